"""The anonymization DAG's utterance tables and waveforms.

A table is a manifest's rows as a DataFrame with `audio_path` absolute (the manifest's root
joined), or an anonymized folder's (`anonymizers.read_anonymized`): the same utt_id, speaker,
gender, split, text and emotion columns, so the evaluation pairs them by utt_id.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from voxflow.anonymization.audio import RATE, load_audio
from voxflow.anonymization.emotion import four_class
from voxflow.ingest.manifest import read_manifest
from voxflow.parallel import progress_disabled

log = logging.getLogger(__name__)

# LibriTTS subsets -> the VPC's roles: attacker/ASR training, dev and test trials
LIBRITTS_ROLES = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test"}


def manifest_table(manifest: Path) -> pd.DataFrame:
    """The manifest's rows, `audio_path` made absolute."""
    table, root = read_manifest(Path(manifest))
    frame = table.to_pandas()
    frame["audio_path"] = [str(Path(root) / p) for p in frame["audio_path"]]
    return frame


def libritts_role(table: pd.DataFrame, role: str) -> pd.DataFrame:
    """The rows of LibriTTS subsets in `role` (train, dev or test; LIBRITTS_ROLES)."""
    subsets = [subset for subset, name in LIBRITTS_ROLES.items() if name == role]
    rows = table[table["split"].isin(subsets)]
    if rows.empty:
        raise ValueError(f"no LibriTTS utterance of {' or '.join(subsets)} (role {role!r})")
    return rows.reset_index(drop=True)


def trial_table(table: pd.DataFrame) -> pd.DataFrame:
    """The dev and test rows in `voxflow.anonymization.asv.make_trials`'s shape: split dev or
    test, gender f or m."""
    rows = pd.concat([libritts_role(table, "dev"), libritts_role(table, "test")])
    return rows.assign(split=rows["split"].map(LIBRITTS_ROLES),
                       gender=rows["gender"].str.lower()).reset_index(drop=True)


def emotion_table(table: pd.DataFrame) -> pd.DataFrame:
    """The IEMOCAP rows of the 4-class protocol, `emotion` mapped to neu, hap, sad, ang."""
    rows = table.assign(emotion=four_class(table["emotion"]))
    return rows[rows["emotion"].notna()].reset_index(drop=True)


def read_waves(table: pd.DataFrame, desc: str = "read") -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Each row's audio at 16 kHz; a file that cannot be read is logged with its problem and
    left out: returns the rows read and their waveforms."""
    kept, waves = [], []
    for index, path in tqdm(list(enumerate(table["audio_path"])), desc=desc, unit="utt",
                            leave=False, disable=progress_disabled()):
        try:
            waves.append(load_audio(path, RATE))
            kept.append(index)
        except ValueError as err:
            log.warning("skipped: %s", err)
    return table.iloc[kept].reset_index(drop=True), waves
