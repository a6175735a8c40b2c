"""The report's Siamese-against-GMM verdict (a paired bootstrap interval of the eval EER
difference decides between "beats", "does not beat" and "neither beats the other") and its note
on what the SSL front-end is."""
from __future__ import annotations

import numpy as np
import pandas as pd

from voxflow.antispoof.report import comparison, ssl_frontend_note

INFO = {"train_utterances": 100, "batches_per_epoch": 2, "batch_size": 64, "epochs": 3,
        "preset": "tiny", "frontend": "lfcc", "pretrained_frontend": False,
        "final_losses": {"contrastive": 0.5, "cross_entropy": 0.4}, "margin": 2.0}


def scores(separation: float, seed: int, bona: int = 60, spoof: int = 104) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    keys = ["bonafide"] * bona + ["spoof"] * spoof
    values = np.r_[rng.normal(separation, 1, bona), rng.normal(0, 1, spoof)]
    return pd.DataFrame({"utterance": [f"LA_E_{i}" for i in range(len(keys))], "key": keys,
                         "score": values})


def verdict(siamese: pd.DataFrame, gmm: pd.DataFrame, dev=(0.2, 0.2)) -> str:
    systems = {"s": {"kind": "siamese", **INFO}, "g": {"kind": "gmm"}}
    metrics = {"s/dev/eer": dev[0], "g/dev/eer": dev[1], "s/eval/eer": 0.3, "g/eval/eer": 0.3}
    per_attack = pd.DataFrame(columns=["split", "attack", "system", "eer"])
    return "\n".join(comparison(systems, metrics, per_attack, {"s": siamese, "g": gmm}))


def test_a_clearly_better_siamese_system_beats_the_gmm():
    assert "The Siamese system beats the GMM baseline" in verdict(scores(4.0, 1), scores(0.5, 2))


def test_a_clearly_worse_siamese_system_does_not_beat_the_gmm():
    assert "do NOT beat" in verdict(scores(0.5, 1), scores(4.0, 2))


def test_two_equally_good_systems_are_not_told_apart():
    text = verdict(scores(1.0, 1), scores(1.0, 2))
    assert "Neither beats the other" in text and "interval contains 0" in text


def ssl_system(description: str, pretrained: bool) -> dict:
    return {"frontend": "ssl", "frontend_description": description,
            "pretrained_frontend": pretrained}


def test_the_report_says_a_random_ssl_front_end_is_no_wav2vec():
    note = ssl_frontend_note({"s": ssl_system("WAV2VEC2_BASE ... RANDOM INITIALISATION", False)})
    assert "RANDOM INITIALISATION" in "".join(note)


def test_the_report_says_voxflows_ssl_encoder_is_no_wav2vec():
    note = ssl_frontend_note({"s": ssl_system("voxflow's SSL encoder (WavLM ...)", True)})
    assert "voxflow's own small encoder" in "".join(note)


def test_the_report_has_no_note_for_pretrained_wav2vec():
    assert ssl_frontend_note({"s": ssl_system("WAV2VEC2_LARGE, pretrained", True)}) == []
