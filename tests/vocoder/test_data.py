"""Vocoder features of the tiny LibriTTS release and the training segment sampler."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from voxflow.features.logmel import LogMel
from voxflow.ingest import ingest
from voxflow.stage_io import load_params
from voxflow.vocoder import stages
from voxflow.vocoder.data import SegmentSampler, extract_features


@pytest.fixture(scope="module")
def features(tiny_corpus, tmp_path_factory):
    """(features folder, index) of the tiny LibriTTS, one utterance corrupted first."""
    work = tmp_path_factory.mktemp("vocoder")
    root = shutil.copytree(tiny_corpus("libritts"), work / "LibriTTS")
    manifest = work / "libritts.parquet"
    table = ingest("libritts", root, manifest).to_pandas()
    victim = table[table["split"] == "test-clean"].iloc[0]
    (root / victim["audio_path"]).write_bytes(b"RIFF not really a wav")
    out = work / "features"
    return out, extract_features(manifest, out), victim["utt_id"]


def test_every_readable_utterance_has_aligned_features(features):
    out, index, victim = features
    rejects = pd.read_csv(out / "rejects.csv")
    assert rejects["utt_id"].tolist() == [victim] and "cannot read audio" in rejects["reason"][0]
    assert victim not in set(index["utt_id"]) and len(index) > 100
    assert set(index["split"]) == {"train-clean-100", "dev-clean", "test-clean"}
    for row in index.head(5).itertuples():
        mel, wav = np.load(out / row.mel_path), np.load(out / row.wav_path)
        assert mel.shape == (row.frames, 80) and wav.shape == (row.frames * 300,)
        # a slice of the waveform has the features of the same slice of frames (away from
        # the slice's edges, where the centred STFT windows see beyond it)
        piece = LogMel()(torch.from_numpy(wav[3000:9000].copy())[None])[0].numpy()
        assert np.allclose(piece[3:-3], mel[13:27], atol=1e-4)


def test_segments_are_aligned_and_reproducible(features):
    out, index, _ = features
    sampler = SegmentSampler(out, "train-clean-100", batch_size=3, segment_frames=20,
                             hop_length=300)
    first = sampler(torch.Generator().manual_seed(7))
    again = sampler(torch.Generator().manual_seed(7))
    assert first["audio"].shape == (3, 6000) and first["mel"].shape == (3, 20, 80)
    assert torch.equal(first["audio"], again["audio"]) and torch.equal(first["mel"], again["mel"])
    mel = LogMel()(first["audio"])
    assert torch.allclose(mel[:, 3:-3], first["mel"][:, 3:-3], atol=1e-4)
    speaker = index["speaker"][index["split"] == "train-clean-100"].iloc[0]
    one = SegmentSampler(out, "train-clean-100", 2, 20, 300, speakers=(speaker,))
    assert len(one.mels) == (index[index["speaker"] == speaker]["frames"] >= 20).sum()
    with pytest.raises(ValueError, match="no test-clean utterance of at least 100000 frames"):
        SegmentSampler(out, "test-clean", 2, 100_000, 300)


def test_the_features_stage_computes_on_its_params_threads(tiny_corpus, tmp_path, tracking):
    """The same bytes whatever torch's threads in the calling process (`voxflow repro` starts a
    one-core stage on one; a log-mel on one thread differs in the last bit from one on two)."""
    ingest("libritts", tiny_corpus("libritts"), tmp_path / "all.parquet")
    manifest = tmp_path / "libritts.parquet"
    pq.write_table(pq.read_table(tmp_path / "all.parquet").slice(0, 3), manifest)
    section = {**load_params(Path(__file__).parents[2] / "params.yaml")["vocoder"], "threads": 2}
    written = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        out = tmp_path / f"features-{threads}"
        stages.features(manifest, out, tmp_path / f"metrics-{threads}.json", section)
        written.append({path.relative_to(out): path.read_bytes()
                        for path in sorted(out.rglob("*.mel.npy"))})
    assert len(written[0]) == 3 and written[0] == written[1]
