"""Tables of (reference, degraded) audio pairs, the input of the signal-level metrics.

A pairs file is a CSV with the columns `reference` and `degraded` (paths, relative to the CSV's
folder unless absolute) and optionally `id`. Multi-channel files are averaged to mono.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from voxflow.evaluation.report import read_table


class PairError(ValueError):
    """A pair that cannot be scored; batch evaluation records the message and goes on."""


def read_pairs(path: Path) -> pd.DataFrame:
    """The pairs of a CSV file, with absolute paths and an `id` per pair (default: row number)."""
    path = Path(path)
    table = read_table(path, ("reference", "degraded"), "pairs", optional="id")
    if "id" not in table.columns:
        table.insert(0, "id", [str(i) for i in range(len(table))])
    if table["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate ids, e.g. {table['id'][table['id'].duplicated()].iloc[0]!r}")
    for column in ("reference", "degraded"):
        empty = table[column].str.strip() == ""
        if empty.any():
            raise ValueError(f"{path}: row {int(empty.to_numpy().argmax()) + 2} has no "
                             f"{column} path")
        # absolute, not resolved: a DVC-linked file keeps its workspace name
        table[column] = [os.path.abspath(p if Path(p).is_absolute() else path.parent / p)
                         for p in table[column]]
    return table[["id", "reference", "degraded", *[c for c in table.columns
                                                    if c not in ("id", "reference", "degraded")]]]


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """(float64 samples, rate) of an audio file; multi-channel files are averaged to mono."""
    if not Path(path).is_file():
        raise PairError(f"{path}: file not found")
    try:
        audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise PairError(f"{path}: cannot read audio ({err})") from err
    if audio.shape[0] == 0:
        raise PairError(f"{path}: no samples")
    if not np.all(np.isfinite(audio)):
        raise PairError(f"{path}: audio contains NaN or infinite samples")
    return audio.mean(axis=1), int(rate)


def load_pair(reference: Path, degraded: Path,
              max_length_difference: float = 0.01) -> tuple[np.ndarray, np.ndarray, int]:
    """(reference, degraded, rate), trimmed to the shorter of the two.

    Vocoders and enhancers often return a few samples more or less than their input (frame
    padding), so lengths may differ by up to `max_length_difference` seconds; more than that
    means the files are not a pair, which is an error, as are differing sample rates."""
    ref, ref_rate = read_mono(reference)
    deg, deg_rate = read_mono(degraded)
    if ref_rate != deg_rate:
        raise PairError(f"{degraded}: sample rate {deg_rate} Hz differs from the reference's "
                        f"{ref_rate} Hz ({reference})")
    return (*trim_pair(ref, deg, ref_rate, max_length_difference, str(degraded)), ref_rate)


def trim_pair(reference: np.ndarray, degraded: np.ndarray, rate: int,
              max_length_difference: float = 0.01, name: str = "degraded signal"
              ) -> tuple[np.ndarray, np.ndarray]:
    """Both signals cut to the shorter length; PairError if they differ by more than
    `max_length_difference` seconds."""
    difference = abs(len(reference) - len(degraded))
    if difference > max_length_difference * rate:
        raise PairError(f"{name}: length {len(degraded) / rate:.3f} s differs from the "
                        f"reference's {len(reference) / rate:.3f} s by more than "
                        f"{max_length_difference * 1000:g} ms")
    n = min(len(reference), len(degraded))
    return reference[:n], degraded[:n]
