"""The visual front-end of MHCA-AVCRN: mouth-centred grayscale crops of the GRID videos.

As in the paper (section 3.2): every video is read at 25 frames per second; on each frame,
dlib's HOG frontal face detector finds the face and dlib's 68-point shape predictor (Kazemi and
Sullivan's ensemble of regression trees, the paper's [21]) places the landmarks; the mean of the
20 mouth points (48..67) centres a 128 x 128 window, which is resized to 80 x 80. The paper
does not say how the window follows the talker's size; here its side scales with the video's
median mouth width (128 px at `CropConfig.reference_mouth_width`; off: a fixed 128 px). Crops
are grayscale, one channel per frame: the paper's 80 x 80 x 5 segments have no colour axis.

Frames where no face is found get their landmarks interpolated linearly from the nearest frames
with one (the first and last from the nearest), and the per-frame `detected` mask records which
ones these are; a video with no face at all, or one with a longer run of faceless frames than
`CropConfig.max_missing_run`, is rejected.

Alignment with the audio: video frame k covers [k / fps, (k + 1) / fps) s, i.e.
`mel_frames_per_video_frame()` = 4 log-mel frames at a 10 ms hop (16 kHz, hop 160), so a segment
of 5 frames (`segments(crops, 5)`) goes with 20 log-mel frames (`segments(mel, 20)`), 200 ms.

`extract_crops` is the cached feature stage (`voxflow.features.cache`): per utterance of a GRID
manifest, `<split>/<utt_id>.crops.npy` (frames, 80, 80) uint8, `.landmarks.npy` (frames, 68, 2)
float32 (x, y in source pixels, interpolated where not detected) and `.detected.npy` (frames,)
bool, listed in `index.parquet` (INDEX_COLUMNS); problem videos in `rejects.csv`; the settings
in `crops.json`. `crop_metrics` summarises a cache, its landmark detection rate included.

Models and licences: dlib comes from the `dlib-bin` wheel (Boost Software License) and the
68-point model file from the `face-recognition-models` package, so nothing is downloaded at run
time. That package's metadata declares its models CC0 / public domain, but the 68-point model was
trained on the iBUG 300-W landmark dataset, whose licence excludes commercial use: dlib's model
repository (davisking/dlib-models) notes, at the request of one of the dataset's creators, that
this trained model cannot be used in a commercial product. This front-end is therefore for
research use; a commercial one needs a landmark model trained on data licensed for it.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

import av
import numpy as np
import pandas as pd
from PIL import Image

from voxflow.features.cache import (Computed, Rejected, Utterance, cache_features, read_index,
                                    read_rejects)
from voxflow.ingest.manifest import read_manifest

MOUTH = slice(48, 68)           # the 20 mouth points of the 68-point (iBUG 300-W) markup
MOUTH_CORNERS = (48, 54)        # outer lip corners: the mouth width
INDEX_COLUMNS = ["utt_id", "split", "speaker", "frames", "detected_frames", "crop_side",
                 "crops_path", "landmarks_path", "detected_path"]
SETTINGS = "crops.json"
ARRAYS = {"crops_path": "crops", "landmarks_path": "landmarks", "detected_path": "detected"}


@dataclass(frozen=True)
class CropConfig:
    fps: int = 25                   # frame rate the videos are resampled to (paper: 25)
    window: int = 128               # crop side in source pixels (paper: 128 x 128)
    size: int = 80                  # side the crop is resized to (paper: 80 x 80)
    # the mouth width (corners 48-54, px) at which the crop side is `window`: a video's side is
    # window x its median mouth width / this, so every talker's mouth fills the crop alike,
    # whatever the distance to the camera or the resolution. 55 px is the median over the
    # synthetic GRID (52-60 px per video), where crops are thus about the paper's 128 px.
    # None: the fixed window whatever the mouth.
    reference_mouth_width: float | None = 55.0
    # dlib detector upsamplings: 0 finds faces of 80 px and more (GRID's are about 150 px);
    # each doubles the image and costs 3-4 times as much
    upsample: int = 0
    # the longest run of faceless frames that interpolation may fill (1 s at 25 fps); a video
    # with a longer one is rejected
    max_missing_run: int = 25

    def __post_init__(self):
        if self.fps <= 0 or self.window <= 0 or self.size <= 0:
            raise ValueError(f"fps, window and size must be positive, got {self}")
        if self.reference_mouth_width is not None and self.reference_mouth_width <= 0:
            raise ValueError(f"reference_mouth_width must be positive or None, got "
                             f"{self.reference_mouth_width}")
        if self.upsample < 0 or self.max_missing_run < 0:
            raise ValueError(f"upsample and max_missing_run must be >= 0, got {self}")


def read_video(path: Path, fps: int) -> np.ndarray:
    """The video's RGB frames (T, H, W, 3) uint8 at `fps`: frame k is the decoded frame nearest
    to k / fps s after the first one, so another frame rate is resampled by the timestamps
    (frames repeated or dropped). The whole video is held in memory (GRID's are 3 s).
    `Rejected`, naming the file, when it cannot be decoded or has no frame."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise Rejected(f"{path}: no video stream")
            decoded = [(frame.time, frame.to_ndarray(format="rgb24"))
                       for frame in container.decode(container.streams.video[0])]
    except (av.FFmpegError, OSError) as err:
        raise Rejected(f"{path}: cannot decode video ({err})") from err
    if not decoded:
        raise Rejected(f"{path}: no video frames")
    if any(time is None for time, _ in decoded):
        raise Rejected(f"{path}: video frames without timestamps")
    times = np.array([time for time, _ in decoded]) - decoded[0][0]
    interval = float(np.median(np.diff(times))) if len(times) > 1 else 1 / fps
    count = max(1, round((times[-1] + interval) * fps))
    # the fractional frame index of each target time, rounded: the nearest frame in time
    nearest = np.rint(np.interp(np.arange(count) / fps, times, np.arange(len(times))))
    return np.stack([decoded[int(k)][1] for k in nearest])


def to_gray(frames: np.ndarray) -> np.ndarray:
    """RGB frames (T, H, W, 3) uint8 -> luma (T, H, W) uint8: Pillow's ITU-R 601-2 conversion
    (R 299 + G 587 + B 114) / 1000, in integers, rounded."""
    return np.stack([np.asarray(Image.fromarray(frame).convert("L")) for frame in frames])


def landmark_model_path() -> Path:
    """The 68-point shape predictor shipped in the face-recognition-models package."""
    # found without importing the package: its __init__ imports pkg_resources, which recent
    # setuptools no longer has, only to build this path
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the face-recognition-models package is not installed; it "
                                  "ships the 68-point landmark model (see requirements.lock)")
    path = Path(spec.submodule_search_locations[0]) / "models" / \
        "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: reinstall face-recognition-models")
    return path


class MouthTracker:
    """dlib's frontal face detector and 68-point shape predictor: `track(gray frames)` ->
    landmarks per frame. dlib's objects cannot be pickled: build one per process
    (`tracker_for`) instead of sending it to workers."""

    def __init__(self, upsample: int = 0):
        import dlib

        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(landmark_model_path()))

    def frame_landmarks(self, gray: np.ndarray) -> np.ndarray | None:
        """(H, W) uint8 -> (68, 2) float32 x, y of the largest face's landmarks, None when no
        face is found."""
        gray = np.ascontiguousarray(gray)     # dlib reads the buffer as is
        faces = self.detector(gray, self.upsample)
        if not faces:
            return None
        face = max(faces, key=lambda rect: rect.area())    # the talker, nearest the camera
        shape = self.predictor(gray, face)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def track(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, H, W) uint8 -> (landmarks (T, 68, 2) float32, NaN where no face was found,
        detected (T,) bool)."""
        landmarks = np.full((len(gray), 68, 2), np.nan, np.float32)
        detected = np.zeros(len(gray), bool)
        for k, frame in enumerate(gray):
            points = self.frame_landmarks(frame)
            if points is not None:
                landmarks[k], detected[k] = points, True
        return landmarks, detected


@lru_cache(maxsize=2)
def tracker_for(upsample: int) -> MouthTracker:
    """This process's tracker: the 100 MB model is loaded once per worker."""
    return MouthTracker(upsample)


def fill_missing(landmarks: np.ndarray, detected: np.ndarray, max_missing_run: int
                 ) -> np.ndarray:
    """(T, 68, 2) landmarks with (T,) detected mask -> (T, 68, 2) float32, the undetected
    frames interpolated linearly between the nearest detected ones (before the first and after
    the last: copied from it). `Rejected` when no frame is detected or more than
    `max_missing_run` consecutive ones are not."""
    if not detected.any():
        raise Rejected(f"no face detected in any of the {len(detected)} frames")
    run, start = _longest_run(~detected)
    if run > max_missing_run:
        raise Rejected(f"no face in {run} consecutive frames (from frame {start}), more than "
                       f"the {max_missing_run} that interpolation may fill")
    frames, known = np.arange(len(detected)), np.flatnonzero(detected)
    flat = landmarks.reshape(len(detected), -1)
    filled = np.stack([np.interp(frames, known, flat[known, j]) for j in range(flat.shape[1])],
                      axis=1)
    return filled.reshape(landmarks.shape).astype(np.float32)


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(length, start) of the longest run of True in a (T,) bool mask; (0, 0) for none."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    if not len(starts):
        return 0, 0
    longest = int(np.argmax(ends - starts))
    return int(ends[longest] - starts[longest]), int(starts[longest])


def crop_side(landmarks: np.ndarray, config: CropConfig) -> int:
    """The crop side in source pixels for a video's (T, 68, 2) landmarks (see
    `CropConfig.reference_mouth_width`)."""
    if config.reference_mouth_width is None:
        return config.window
    left, right = MOUTH_CORNERS
    width = float(np.median(np.linalg.norm(landmarks[:, right] - landmarks[:, left], axis=1)))
    return max(1, round(config.window * width / config.reference_mouth_width))


def mouth_crops(gray: np.ndarray, landmarks: np.ndarray, config: CropConfig
                ) -> tuple[np.ndarray, int]:
    """(T, H, W) uint8 frames and their (T, 68, 2) landmarks -> (crops (T, size, size) uint8,
    crop side in source pixels). Each crop is the side x side window centred on the mean of the
    20 mouth points (rounded to whole pixels), edge pixels repeated where it leaves the image,
    resized with Pillow's antialiased bilinear filter."""
    side = crop_side(landmarks, config)
    height, width = gray.shape[1:]
    crops = np.empty((len(gray), config.size, config.size), np.uint8)
    for k, (frame, (cx, cy)) in enumerate(zip(gray, landmarks[:, MOUTH].mean(axis=1))):
        # pixel centres sit on integer coordinates: a window from x0 is centred at x0 + (side-1)/2
        x0, y0 = (int(np.floor(c - (side - 1) / 2 + 0.5)) for c in (cx, cy))
        rows = np.clip(np.arange(y0, y0 + side), 0, height - 1)
        cols = np.clip(np.arange(x0, x0 + side), 0, width - 1)
        window = Image.fromarray(np.ascontiguousarray(frame[np.ix_(rows, cols)]))
        crops[k] = np.asarray(window.resize((config.size, config.size),
                                            Image.Resampling.BILINEAR))
    return crops, side


def mel_frames_per_video_frame(sample_rate: int = 16000, hop_length: int = 160,
                               fps: int = 25) -> int:
    """Log-mel frames (at `hop_length`) per video frame: 4 for the paper's 16 kHz, 10 ms hop
    and 25 fps. Video frame k goes with log-mel frames [4k, 4k + 4)."""
    ratio = sample_rate / (hop_length * fps)
    if ratio != int(ratio):
        raise ValueError(f"{sample_rate} Hz / hop {hop_length} is {sample_rate / hop_length} "
                         f"frames/s, not a multiple of {fps} video frames/s")
    return int(ratio)


def segments(frames: np.ndarray, length: int) -> np.ndarray:
    """(T, ...) -> (T // length, length, ...) non-overlapping segments; the incomplete last
    one is dropped. `segments(crops, 5)` and `segments(mel, 5 * mel_frames_per_video_frame())`
    cover the same 200 ms pieces."""
    if length <= 0:
        raise ValueError(f"segment length must be positive, got {length}")
    count = len(frames) // length
    return frames[:count * length].reshape(count, length, *frames.shape[1:])


def video_crops(path: Path, config: CropConfig) -> Computed:
    """One video's arrays (crops, landmarks, detected; see the module docstring) and index
    values (frames, detected_frames, crop_side); `Rejected` for an unreadable or faceless
    video."""
    gray = to_gray(read_video(path, config.fps))
    landmarks, detected = tracker_for(config.upsample).track(gray)
    landmarks = fill_missing(landmarks, detected, config.max_missing_run)
    crops, side = mouth_crops(gray, landmarks, config)
    return ({"crops_path": crops, "landmarks_path": landmarks, "detected_path": detected},
            {"frames": len(crops), "detected_frames": int(detected.sum()), "crop_side": side})


def _utterance_crops(utterance: Utterance, config: CropConfig,
                     without_video: frozenset[str]) -> Computed:
    if utterance.utt_id in without_video:
        raise Rejected("no video_path in the manifest")
    return video_crops(Path(utterance.audio_path), config)


def extract_crops(manifest_path: Path, out_dir: Path, config: CropConfig = CropConfig(),
                  workers: int | None = None) -> pd.DataFrame:
    """Mouth crops of every video of a GRID manifest into `out_dir` (see the module docstring),
    in `workers` processes (default: one per core), with a progress bar; returns the index.
    A cache already there, written with the same settings, keeps the utterances it holds."""
    table, root = read_manifest(Path(manifest_path))
    missing = {"utt_id", "split", "speaker", "audio_path", "video_path"} - set(table.column_names)
    if missing:
        raise ValueError(f"{manifest_path}: not a GRID manifest (no {', '.join(sorted(missing))})")
    rows = table.select(["utt_id", "split", "speaker", "audio_path", "video_path"]).to_pylist()
    out_dir = Path(out_dir)
    settings_path = out_dir / SETTINGS
    settings = asdict(config)
    reuse = settings_path.is_file() and json.loads(settings_path.read_text()) == settings
    settings_path.unlink(missing_ok=True)   # rewritten when done: an interrupted run reuses none
    # rejects.csv's path is the video, or the audio file for a row without one
    jobs = [Utterance(u["utt_id"], str(root / (u["video_path"] or u["audio_path"])),
                      fields={"split": u["split"], "speaker": u["speaker"]},
                      arrays={column: f"{u['split']}/{u['utt_id']}.{name}.npy"
                              for column, name in ARRAYS.items()})
            for u in rows]
    without_video = frozenset(u["utt_id"] for u in rows if u["video_path"] is None)
    index = cache_features(jobs, partial(_utterance_crops, config=config,
                                         without_video=without_video),
                           out_dir, INDEX_COLUMNS, desc="mouth crops", workers=workers,
                           reuse=reuse)
    settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    return index


def crop_metrics(crops_dir: Path) -> dict[str, float]:
    """Flat metrics of a crops cache: videos kept, rejected, frames, detected_frames,
    detection_rate (frames where a face was found / frames, over the videos kept) and
    `detection_rate_<split>` per split."""
    index, rejects = read_index(Path(crops_dir)), read_rejects(Path(crops_dir))
    metrics: dict[str, float] = {"videos": len(index), "rejected": len(rejects),
                                 "frames": int(index["frames"].sum()),
                                 "detected_frames": int(index["detected_frames"].sum()),
                                 "detection_rate": _detection_rate(index)}
    for split, rows in index.groupby("split"):
        metrics[f"detection_rate_{split}"] = _detection_rate(rows)
    return metrics


def _detection_rate(index: pd.DataFrame) -> float:
    frames = int(index["frames"].sum())
    return int(index["detected_frames"].sum()) / frames if frames else 0.0
