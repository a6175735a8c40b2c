"""Where each AV-SE system's log-mel error lies on the test split: in the bins the target speech
dominates and in the others, with its bias (enhanced minus clean, in nats of magnitude).

    python benchmarks/avse_bias.py [--models models/avse] [--features data/avse/features]
                                   [--crops data/avse/crops]

A bin is speech-dominated when the clean target's log-mel is within 6 dB of the mixture's
(the target holds at least half the magnitude there). A log-mel MSE regression that cannot tell
whether a bin is speech predicts the mean of the two cases in the log domain: a negative bias in
the speech-dominated bins is speech attenuated, which STOI and PESQ punish. `unprocessed` is the
mixture itself.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxflow.avse.data import EnhancementSet
from voxflow.avse.training import find_models, load_model

SPEECH_DOMINATED = np.log(2.0)      # clean within 6 dB of the mixture


def bin_errors(enhanced: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor) -> dict:
    """(frames, n_mels) log-mels of one mixture -> MSE and bias in both kinds of bins."""
    dominated = clean > noisy - SPEECH_DOMINATED
    error = enhanced - clean
    return {"speech_share": float(dominated.float().mean()),
            "speech_mse": float(error[dominated].square().mean()),
            "speech_bias": float(error[dominated].mean()),
            "other_mse": float(error[~dominated].square().mean()),
            "other_bias": float(error[~dominated].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=Path("models/avse"))
    parser.add_argument("--features", type=Path, default=Path("data/avse/features"))
    parser.add_argument("--crops", type=Path, default=Path("data/avse/crops"))
    args = parser.parse_args()
    test = EnhancementSet(args.features, args.crops, "test")
    models = {system: load_model(path) for system, path in find_models([args.models]).items()}
    rows = []
    for k, item in enumerate(test.index.itertuples()):
        batch = test.batch([k])
        clean, noisy = batch["clean"][0], batch["noisy"][0]
        outputs = {"unprocessed": noisy}
        with torch.no_grad():
            for system, model in models.items():
                video = batch["video"] if model.uses_video else None
                outputs[system] = model.enhance(batch["noisy"], video)[0]
        for system, enhanced in outputs.items():
            rows.append({"system": system, "condition": item.condition, "snr_db": item.snr_db,
                         **bin_errors(enhanced, clean, noisy)})
    table = pd.DataFrame(rows).groupby(["system", "condition", "snr_db"]).mean()
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
