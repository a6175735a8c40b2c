"""What the teacher is worth distilling, measured while it trains on held-out utterances:

- `nll`: teacher-forced negative log-likelihood (nats per sample) of their waveforms;
- `mcd`, `vuv_error`, `f0_rmse`: of its own generated samples against the recordings, cut to a
  fraction of a second (generation is autoregressive, one step per sample).

A teacher whose samples are unvoiced where speech is voiced gives its student noise to copy:
`check_teacher` applies params.yaml's gate before a distillation starts.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from voxflow.evaluation.spectral import f0_metrics, mcd
from voxflow.features.cache import read_index
from voxflow.vocoder.losses import teacher_loss
from voxflow.vocoder.params import TeacherGate

log = logging.getLogger(__name__)

METRICS = ("nll", "mcd", "f0_rmse", "vuv_error")     # what each validation measures


class TeacherValidation:
    """`validation(objective)` -> {"nll", "mcd", "f0_rmse", "vuv_error"} of the objective's
    teacher on the first `utterances` of `split`, `seconds` from the middle of each (one
    batch)."""

    def __init__(self, features_dir: Path, split: str, utterances: int, seconds: float,
                 sample_rate: int, hop_length: int):
        features_dir = Path(features_dir)
        index = read_index(features_dir)
        index = index[index["split"] == split].sort_values("utt_id").head(utterances)
        if index.empty:
            raise ValueError(f"{features_dir}: no {split} utterance to validate the teacher on")
        frames = min(int(index["frames"].min()), max(1, round(seconds * sample_rate / hop_length)))
        # the middle of each utterance: its start is mostly silence, where any noise is unvoiced
        starts = [(n - frames) // 2 for n in index["frames"]]
        self.mel = torch.from_numpy(np.stack([np.load(features_dir / p)[s:s + frames]
                                              for p, s in zip(index["mel_path"], starts)]))
        self.audio = torch.from_numpy(np.stack([
            np.load(features_dir / p)[s * hop_length:(s + frames) * hop_length]
            for p, s in zip(index["wav_path"], starts)]))
        self.sample_rate = sample_rate

    def __call__(self, objective) -> dict[str, float]:
        teacher = objective.teacher
        device = next(teacher.parameters()).device
        mel, audio = self.mel.to(device), self.audio.to(device)
        encoder = teacher.conditioning.encoder
        cond, kl = teacher.conditioning(mel, audio if encoder is not None else None)
        measured = {"nll": float(teacher_loss(teacher(audio, cond), audio, kl)["nll"])}
        # generation has no recording: the Audio Encoder's prior, not its posterior
        prior = cond if encoder is None else teacher.conditioning(mel)[0]
        generated = teacher.generate(prior).float().cpu().numpy()
        scores = [{"mcd": mcd(reference, sample, self.sample_rate),
                   **f0_metrics(reference, sample, self.sample_rate)}
                  for reference, sample in zip(self.audio.double().numpy(), generated)]
        for name in METRICS[1:]:
            measured[name] = float(np.mean([s[name] for s in scores]))
        return measured


def check_teacher(validation: list[dict], gate: TeacherGate, teacher_path: Path) -> bool:
    """Whether the teacher's last validation passes the gate; with on_fail "error" a failure
    raises, with "warn" it is logged as an error and False returned."""
    if not validation:
        raise ValueError(f"{teacher_path}: the teacher holds no validation (trained before "
                         "validation existed?): retrain it")
    last = validation[-1]
    failures = [f"{name} {last[name]:.3f} > {limit}" for name, limit in
                (("vuv_error", gate.max_vuv_error), ("mcd", gate.max_mcd))
                if not last[name] <= limit]
    if not failures:
        return True
    message = (f"{teacher_path} fails the teacher gate at step {last['step']} "
               f"({', '.join(failures)}): its samples are not speech, the student will copy "
               "noise; train the teacher longer (preset quality) or set "
               "vocoder.teacher_gate.on_fail: warn to distil anyway")
    if gate.on_fail == "error":
        raise ValueError(message)
    log.error("DISTILLING FROM A TEACHER THAT FAILS ITS GATE: %s", message)
    return False
