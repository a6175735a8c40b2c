"""The WORLD feature stage of the MLMS system, and the analysis-synthesis bound of its vocoder.

`extract_features` analyses every utterance of an mlms manifest (`voxflow.mlms.world.analyze`)
into a feature cache (`voxflow.features.cache`: parallel processes, a progress bar, atomic
writes): per utterance `<split>/<utt_id>.world.npy`, (frames, 49) float32, listed in
`index.parquet` (INDEX_COLUMNS); problem files in `rejects.csv`; the `WorldConfig` in
`world.json`, so that a rerun with the same settings reuses the arrays already there. Rejected,
never crashing the stage: a wav that cannot be read, has another sample rate or non-finite
samples, is shorter than MIN_FRAMES frames, is silent (peak below SILENT_PEAK_DBFS) or has no
voiced frame in the F0 search range (its log F0 target would be a flat line).

`analysis_synthesis_bound` is the upper bound of the whole system: the cached features of dev
utterances synthesised by WORLD (no post-filter, which is for predicted features) and analysed
again score what a perfect acoustic model would. Its means come with Student-t 95 % confidence
intervals (`voxflow.evaluation.stats.mean_ci`, as `voxflow.evaluation.spectral`):
`voxflow.evaluation.bootstrap` only has the paired bootstrap of EER differences.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.evaluation.report import Report, require_columns
from voxflow.evaluation.stats import mean_ci
from voxflow.features.cache import (Computed, Rejected, Utterance, cache_features, read_index,
                                    read_mono)
from voxflow.mlms.world import DIMENSIONS, VUV, WorldConfig, analyze, distortions, \
    frame_count, synthesize
from voxflow.parallel import run_parallel

MANIFEST_COLUMNS = ("utt_id", "split", "speaker", "language", "gender", "audio_path")
INDEX_COLUMNS = ["utt_id", "split", "speaker", "language", "gender", "frames", "voiced_frames",
                 "world_path"]
SETTINGS = "world.json"
MIN_FRAMES = 20                 # 100 ms: shorter files are cut-offs, not utterances
SILENT_PEAK_DBFS = -60.0        # a peak below this is an empty recording
METRICS = ("mcd_db", "f0_rmse_hz", "vuv_error", "bap_db")


def extract_features(manifest: pd.DataFrame, corpus_root: Path, out_dir: Path,
                     config: WorldConfig = WorldConfig(), workers: int | None = None
                     ) -> pd.DataFrame:
    """WORLD features of every utterance of an mlms manifest table (`audio_path` relative to
    `corpus_root`) into `out_dir` (see the module docstring), in `workers` processes (default:
    one per core); returns the index."""
    require_columns(manifest, MANIFEST_COLUMNS, "mlms manifest")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_path = out_dir / SETTINGS
    settings = json.loads(json.dumps(asdict(config)))     # tuples as JSON lists, to compare
    reuse = settings_path.is_file() and json.loads(settings_path.read_text()) == settings
    settings_path.unlink(missing_ok=True)   # rewritten when done: an interrupted run reuses none
    jobs = [Utterance(row.utt_id, str(Path(corpus_root) / row.audio_path),
                      fields={"split": row.split, "speaker": row.speaker,
                              "language": row.language, "gender": row.gender},
                      arrays={"world_path": f"{row.split}/{row.utt_id}.world.npy"})
            for row in manifest.itertuples(index=False)]
    index = cache_features(jobs, partial(utterance_features, config=config), out_dir,
                           INDEX_COLUMNS, desc="WORLD features", workers=workers, reuse=reuse)
    settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    return index


def utterance_features(utterance: Utterance, config: WorldConfig) -> Computed:
    """One utterance's {"world_path": (frames, 49) float32} and index values (frames,
    voiced_frames); `Rejected` for a problem file (see the module docstring)."""
    audio = read_mono(utterance.audio_path, config.sample_rate)
    if not np.all(np.isfinite(audio)):
        raise Rejected("audio has NaN or infinite samples")
    frames = frame_count(len(audio), config)
    if frames < MIN_FRAMES:
        raise Rejected(f"{len(audio) / config.sample_rate:.3f} s of audio: {frames} frames, "
                       f"fewer than {MIN_FRAMES}")
    peak = float(np.abs(audio).max())
    if peak < 10 ** (SILENT_PEAK_DBFS / 20):
        raise Rejected(f"silent: peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS, below "
                       f"{SILENT_PEAK_DBFS:g}")
    features = analyze(audio, config)
    voiced = int(features[:, VUV].sum())
    if voiced == 0:
        raise Rejected(f"no voiced frame between {config.f0_floor:g} and {config.f0_ceil:g} Hz")
    return {"world_path": features}, {"frames": len(features), "voiced_frames": voiced}


def read_features(cache_dir: Path, row) -> np.ndarray:
    """The (frames, 49) float32 features of one index row (a mapping with world_path and
    frames); ValueError naming the file when its array does not match the row."""
    path = Path(cache_dir) / row["world_path"]
    features = np.load(path)
    if features.shape != (row["frames"], DIMENSIONS) or features.dtype != np.float32:
        raise ValueError(f"{path}: expected ({row['frames']}, {DIMENSIONS}) float32 as the "
                         f"index says, found {features.shape} {features.dtype}")
    return features


def analysis_synthesis_bound(cache_dir: Path, config: WorldConfig = WorldConfig(),
                             utterances: int | None = None, workers: int | None = None
                             ) -> Report:
    """Distortions (`voxflow.mlms.world.distortions`) between the cached features of the first
    `utterances` dev utterances of the cache (all: None) and the analysis of their WORLD
    resynthesis, in `workers` processes. `config` must be the cache's. Table
    "analysis_synthesis": utt_id, speaker, language and the METRICS per utterance; metrics
    `<metric>_mean`, `<metric>_ci95` (half-width) and `utterances`."""
    index = read_index(Path(cache_dir))
    dev = index[index["split"] == "dev"].head(utterances)
    if dev.empty:
        raise ValueError(f"{cache_dir}: no dev utterance in the feature cache")
    jobs = [(Path(cache_dir), row, config) for row in dev.to_dict("records")]
    scores = run_parallel(_round_trip, jobs, "analysis-synthesis", workers=workers, unit="utt")
    table = pd.concat([dev[["utt_id", "speaker", "language"]].reset_index(drop=True),
                       pd.DataFrame(scores, columns=list(METRICS))], axis=1)
    metrics: dict[str, float] = {"utterances": len(table)}
    for name in METRICS:
        metrics[f"{name}_mean"], metrics[f"{name}_ci95"] = mean_ci(table[name])
    return Report(metrics=metrics, tables={"analysis_synthesis": table})


def _round_trip(job: tuple[Path, dict, WorldConfig]) -> dict[str, float]:
    """(cache folder, index row, config) -> distortions of the row's features against the
    analysis of their resynthesis."""
    cache_dir, row, config = job
    features = read_features(cache_dir, row)
    return distortions(features, analyze(synthesize(features, config, postfilter=False), config))
