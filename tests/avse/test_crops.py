"""Mouth crops of GRID-like videos: reading by timestamps, dlib landmarks on a synthetic talking
face, interpolation of missed frames, crops centred on the mouth, the cached stage with its
rejects and metrics, and the audio alignment helpers."""
from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from voxflow.avse.crops import (CropConfig, crop_metrics, crop_side, extract_crops,
                                fill_missing, mel_frames_per_video_frame, mouth_crops,
                                read_video, segments, to_gray, tracker_for)
from voxflow.features.cache import Rejected, read_index, read_rejects
from voxflow.ingest.manifest import Ingested, write_manifest
from voxflow.synth.face import HEIGHT, WIDTH, render_frames, sample_face, write_video

FRAMES = 40
INNER_LIPS = (62, 66)           # middle of the upper and of the lower inner lip
DARK_LUMA = 50                  # darker than any skin, lip or shirt: the open mouth's interior


def _jaw_track(frames: int = FRAMES) -> np.ndarray:
    """Jaw opening in [0, 1]: four open-close cycles of 10 frames (0.4 s)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frames) / 10)


@pytest.fixture(scope="module")
def talking_face(tmp_path_factory):
    """(corpus root, the video's path relative to it, its jaw track, the face's style) of one
    synthetic GRID-like video (MPEG-1, 25 fps, 360 x 288) of a talker opening and closing the
    mouth."""
    root = tmp_path_factory.mktemp("grid")
    rng = np.random.default_rng(0)
    style = sample_face(rng, "M")
    jaw = _jaw_track()
    frames = render_frames(style, np.stack([jaw, np.zeros(FRAMES), np.zeros(FRAMES)], 1), rng)
    write_video(root / "s1" / "talk.mpg", frames)
    return root, "s1/talk.mpg", jaw, style


@pytest.fixture(scope="module")
def tracked(talking_face):
    """(gray frames (T, H, W), landmarks (T, 68, 2), detected (T,)) of the talking face."""
    root, video, _, _ = talking_face
    gray = to_gray(read_video(root / video, 25))
    return (gray, *tracker_for(0).track(gray))


def _row(utt_id: str, video_path: str | None, **overrides) -> dict:
    """A GRID manifest row; the crops stage reads only the video."""
    return {"utt_id": utt_id, "corpus": "grid", "split": "train", "speaker": "s1",
            "audio_path": f"audio_25k/s1/{utt_id}.wav", "sample_rate": 25000,
            "num_samples": 75000, "duration": 3.0, "video_path": video_path, **overrides}


@pytest.fixture(scope="module")
def stage(talking_face, tmp_path_factory):
    """(manifest, crops folder) of the stage run on four videos: the talking face, one with no
    face, a corrupt file and a row without video."""
    root, video, _, style = talking_face
    write_video(root / "s1" / "empty.mpg",
                np.broadcast_to(np.array(style.background, np.uint8),
                                (10, HEIGHT, WIDTH, 3)).copy())
    (root / "s1" / "broken.mpg").write_bytes(b"not an MPEG stream " * 50)
    rows = [_row("s1_talk", video), _row("s1_empty", "s1/empty.mpg"),
            _row("s1_broken", "s1/broken.mpg"), _row("s1_mute", None, split="dev")]
    folder = tmp_path_factory.mktemp("stage")
    manifest = folder / "grid.parquet"
    write_manifest(Ingested(rows=rows), manifest, root, "grid")
    extract_crops(manifest, folder / "crops", workers=1)
    return manifest, folder / "crops"


def _md5s(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.npy"))}


# --- reading videos ---

def test_read_video_gives_every_frame_at_the_native_rate(talking_face):
    root, video, _, _ = talking_face
    frames = read_video(root / video, 25)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8


def test_read_video_resamples_by_timestamps(tmp_path):
    """A 50 fps video read at 25 fps keeps every second frame."""
    path, levels = tmp_path / "fast.mpg", np.arange(20) * 12
    with av.open(str(path), "w", format="mpeg") as out:
        stream = out.add_stream("mpeg1video", rate=50)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k, level in enumerate(levels):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), level, np.uint8), "rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    frames = read_video(path, 25)
    assert len(frames) == 10
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), levels[::2], atol=3)


@pytest.mark.parametrize("content", [b"not an MPEG stream " * 50, b""])
def test_unreadable_video_is_rejected_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.mpg"
    path.write_bytes(content)
    with pytest.raises(Rejected, match=str(path)):
        read_video(path, 25)


def test_to_gray_is_bt601_luma():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]]], np.uint8)
    np.testing.assert_array_equal(to_gray(rgb), [[[76, 150, 29, 124]]])


# --- landmarks ---

def test_face_found_on_most_frames(tracked):
    _, _, detected = tracked
    assert detected.mean() >= 0.9


def test_mouth_opening_follows_the_jaw(tracked, talking_face):
    _, landmarks, detected = tracked
    jaw = talking_face[2]
    top, bottom = INNER_LIPS
    opening = np.linalg.norm(landmarks[:, bottom] - landmarks[:, top], axis=1)
    assert np.corrcoef(opening[detected], jaw[detected])[0, 1] > 0.8


def test_blank_frame_is_recorded_and_interpolated(tracked, talking_face):
    gray, _, _ = tracked
    background = to_gray(np.array(talking_face[3].background, np.uint8)[None, None, None])[0, 0, 0]
    frames = gray[10:13].copy()
    frames[1] = background
    landmarks, detected = tracker_for(0).track(frames)
    assert detected.tolist() == [True, False, True]
    filled = fill_missing(landmarks, detected, max_missing_run=1)
    np.testing.assert_allclose(filled[1], (landmarks[0] + landmarks[2]) / 2)


def test_fill_missing_copies_the_nearest_frame_at_the_edges():
    landmarks = np.full((4, 68, 2), np.nan, np.float32)
    landmarks[1], landmarks[2] = 10.0, 20.0
    filled = fill_missing(landmarks, np.array([False, True, True, False]), max_missing_run=1)
    assert filled[:, 0, 0].tolist() == [10.0, 10.0, 20.0, 20.0]


def test_fill_missing_rejects_a_long_run_without_face():
    detected = np.array([True, False, False, False, True])
    with pytest.raises(Rejected, match="3 consecutive frames"):
        fill_missing(np.zeros((5, 68, 2), np.float32), detected, max_missing_run=2)


def test_fill_missing_rejects_a_video_without_face():
    with pytest.raises(Rejected, match="no face"):
        fill_missing(np.full((3, 68, 2), np.nan, np.float32), np.zeros(3, bool), 25)


# --- crops ---

def test_crops_are_80_by_80_and_centred_on_the_open_mouth(tracked, talking_face):
    gray, landmarks, detected = tracked
    crops, _ = mouth_crops(gray, fill_missing(landmarks, detected, 25), CropConfig())
    assert crops.shape == (FRAMES, 80, 80) and crops.dtype == np.uint8
    open_frames = np.flatnonzero((talking_face[2] > 0.7) & detected)
    assert len(open_frames) >= 8
    for k in open_frames:
        rows, cols = np.nonzero(crops[k] < DARK_LUMA)
        assert abs(rows.mean() - 39.5) < 4 and abs(cols.mean() - 39.5) < 4, k


def test_crop_repeats_edge_pixels_outside_the_image():
    image = (10 * np.arange(20)[:, None] + np.arange(20)[None, :]).astype(np.uint8)
    at_corner = np.zeros((1, 68, 2), np.float32)        # every point at pixel (0, 0)
    crops, _ = mouth_crops(image[None], at_corner,
                           CropConfig(window=8, size=8, reference_mouth_width=None))
    # the 8 x 8 window from (-3, -3): rows and columns before the image repeat its first ones
    assert (crops[0, :4, :4] == image[0, 0]).all()
    np.testing.assert_array_equal(crops[0, 4:, 4:], image[1:5, 1:5])


def test_crop_side_scales_with_the_mouth_width():
    landmarks = np.zeros((3, 68, 2), np.float32)
    landmarks[:, 54, 0] = 60.0                          # mouth corners 48 and 54: 60 px apart
    assert crop_side(landmarks, CropConfig(reference_mouth_width=30.0)) == 256
    assert crop_side(landmarks, CropConfig(reference_mouth_width=None)) == 128


def test_config_rejects_a_bad_value():
    with pytest.raises(ValueError, match="reference_mouth_width"):
        CropConfig(reference_mouth_width=0.0)


# --- the cached stage ---

def test_stage_writes_the_good_video(stage):
    _, crops_dir = stage
    index = read_index(crops_dir)
    assert index["utt_id"].tolist() == ["s1_talk"]
    row = index.iloc[0]
    crops = np.load(crops_dir / row["crops_path"])
    detected = np.load(crops_dir / row["detected_path"])
    assert crops.shape == (FRAMES, 80, 80) and row["frames"] == FRAMES
    assert row["detected_frames"] == detected.sum() >= 0.9 * FRAMES
    assert np.load(crops_dir / row["landmarks_path"]).shape == (FRAMES, 68, 2)


def test_stage_rejects_the_faceless_corrupt_and_missing_videos(stage):
    _, crops_dir = stage
    reasons = read_rejects(crops_dir).set_index("utt_id")["reason"]
    assert set(reasons.index) == {"s1_empty", "s1_broken", "s1_mute"}
    assert "no face detected in any of the 10 frames" in reasons["s1_empty"]
    assert "broken.mpg: cannot decode video" in reasons["s1_broken"]
    assert reasons["s1_mute"] == "no video_path in the manifest"


def test_metrics_report_the_detection_rate(stage):
    _, crops_dir = stage
    metrics = crop_metrics(crops_dir)
    detected = int(read_index(crops_dir)["detected_frames"].sum())
    assert (metrics["videos"], metrics["rejected"], metrics["frames"]) == (1, 3, FRAMES)
    assert metrics["detection_rate"] == metrics["detection_rate_train"] == detected / FRAMES


def test_same_input_gives_identical_crops_with_parallel_workers(stage, tmp_path):
    manifest, crops_dir = stage
    extract_crops(manifest, tmp_path / "again", workers=2)
    assert _md5s(tmp_path / "again") == _md5s(crops_dir)


def test_other_settings_recompute_the_cache(stage, tmp_path):
    manifest, crops_dir = stage
    index = extract_crops(manifest, tmp_path / "small", CropConfig(size=40), workers=1)
    assert np.load(tmp_path / "small" / index["crops_path"].iloc[0]).shape == (FRAMES, 40, 40)


# --- alignment with the audio ---

def test_a_video_frame_spans_four_log_mel_frames():
    assert mel_frames_per_video_frame(16000, 160, 25) == 4
    with pytest.raises(ValueError, match="not a multiple"):
        mel_frames_per_video_frame(22050, 256, 25)


def test_segments_cut_non_overlapping_pieces_and_drop_the_rest():
    crops = np.arange(12)[:, None, None] * np.ones((1, 2, 2))
    pieces = segments(crops, 5)
    assert pieces.shape == (2, 5, 2, 2)
    assert pieces[1, :, 0, 0].tolist() == [5, 6, 7, 8, 9]
