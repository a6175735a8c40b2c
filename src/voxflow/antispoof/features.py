"""Per-utterance countermeasure features of an ASVspoof manifest (seed 004's front-ends), cached
on disk: `out_dir/<split>/<utt_id>.npy` (frames, dims) float32, `index.parquet` (utt_id, split,
key, attack, speaker, frames, dims, path relative to out_dir), `rejects.csv` (utt_id, path,
reason) and `frontend.json` (the front-end, its options and a description in words; for the SSL
front-end it says whether the weights are pretrained or a RANDOM INITIALISATION).

A file that cannot be read, has another sample rate than 16 kHz, is empty, or gives non-finite
features is reported in rejects.csv and skipped. Utterances run in parallel processes
(`voxflow.parallel.run_parallel`, with a progress bar). When `frontend.json` already holds the
same front-end and options, an utterance whose .npy is there and readable is not computed again.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.ingest.manifest import read_manifest
from voxflow.parallel import run_parallel

log = logging.getLogger(__name__)

FRONTENDS = ("lfcc", "cqcc", "ssl")
SAMPLE_RATE = 16000
INDEX_COLUMNS = ["utt_id", "split", "key", "attack", "speaker", "frames", "dims", "path"]


def ssl_config(options: dict):
    """params.yaml's `antispoof.frontends.ssl` -> SSLConfig: `preset` tiny (a narrow
    wav2vec 2.0 of the bundle's strides) or paper (WAV2VEC2_LARGE), `bundle`, `layer`,
    `checkpoint` (a local state dict; none: random initialisation unless torch.hub's cache
    holds the bundle's weights) and `seed`."""
    from voxflow.antispoof.frontends import SSLConfig, _tiny_ssl_params

    preset = options.get("preset", "tiny")
    if preset not in ("tiny", "paper"):
        raise ValueError(f"unknown SSL preset {preset!r}: expected tiny or paper")
    bundle = options.get("bundle") or ("WAV2VEC2_BASE" if preset == "tiny" else "WAV2VEC2_LARGE")
    return SSLConfig(bundle=bundle, layer=options.get("layer"),
                     checkpoint=options.get("checkpoint"), seed=int(options.get("seed", 0)),
                     overrides=_tiny_ssl_params() if preset == "tiny" else {})


@lru_cache(maxsize=4)
def _extractor(frontend: str, options_json: str):
    """(waveform -> (frames, dims) float32, description); cached per process (the SSL model is
    built once per worker)."""
    options = json.loads(options_json)
    if frontend == "lfcc":
        from voxflow.antispoof.frontends import LFCCConfig, lfcc
        config = LFCCConfig(**options)
        return (lambda x: lfcc(x, config)), f"LFCC {config}"
    if frontend == "cqcc":
        from voxflow.antispoof.frontends import CQCCConfig, cqcc
        config = CQCCConfig(**options)
        return (lambda x: cqcc(x, config)), f"CQCC {config}"
    if frontend == "ssl":
        import torch

        from voxflow.antispoof.frontends import SSLFrontEnd
        torch.set_num_threads(1)
        model = SSLFrontEnd(ssl_config(options))
        return model.features, f"SSL {model.description}"
    raise ValueError(f"unknown front-end {frontend!r}: one of {', '.join(FRONTENDS)}")


def make_extractor(frontend: str, options: dict):
    """The front-end as a function waveform (samples,) float32 16 kHz -> (frames, dims)."""
    return _extractor(frontend, json.dumps(options, sort_keys=True))[0]


def describe(frontend: str, options: dict) -> str:
    return _extractor(frontend, json.dumps(options, sort_keys=True))[1]


def _one(job: tuple) -> tuple[str, int, int, str | None]:
    """(utt_id, audio path, npy path, front-end, options JSON, reuse) -> (utt_id, frames, dims,
    reject reason or None)."""
    import soundfile as sf

    utt_id, audio_path, npy_path, frontend, options_json, reuse = job
    npy = Path(npy_path)
    if reuse and npy.is_file():
        try:
            cached = np.load(npy, mmap_mode="r")
            if cached.ndim == 2 and cached.shape[0] > 0:
                return utt_id, int(cached.shape[0]), int(cached.shape[1]), None
        except (OSError, ValueError):
            pass                                     # unreadable cache entry: computed again
    try:
        audio, rate = sf.read(audio_path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        return utt_id, 0, 0, f"cannot read audio ({err})"
    if rate != SAMPLE_RATE:
        return utt_id, 0, 0, f"sample rate {rate} Hz, expected {SAMPLE_RATE}"
    if audio.shape[0] == 0:
        return utt_id, 0, 0, "no samples"
    features = _extractor(frontend, options_json)[0](audio.mean(axis=1))
    if features.ndim != 2 or features.shape[0] == 0 or not np.isfinite(features).all():
        return utt_id, 0, 0, f"no finite features (shape {features.shape})"
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.name}.tmp.npy")
    np.save(tmp, features.astype(np.float32))
    tmp.replace(npy)
    return utt_id, int(features.shape[0]), int(features.shape[1]), None


def extract_features(manifest: Path, frontend: str, out_dir: Path, options: dict,
                     workers: int | None = None) -> pd.DataFrame:
    """Features of every utterance of an ASVspoof manifest with `frontend` (lfcc, cqcc, ssl;
    `options`: its params.yaml section) into `out_dir` (see the module docstring); returns the
    index."""
    if frontend not in FRONTENDS:
        raise ValueError(f"unknown front-end {frontend!r}: one of {', '.join(FRONTENDS)}")
    table, root = read_manifest(Path(manifest))
    columns = set(table.column_names)
    missing = {"utt_id", "split", "audio_path", "key", "attack", "speaker"} - columns
    if missing:
        raise ValueError(f"{manifest}: not an ASVspoof manifest (no {', '.join(sorted(missing))})")
    utterances = table.select(["utt_id", "split", "key", "attack", "speaker", "audio_path"]
                              ).to_pandas()
    if utterances["key"].isna().any() or not set(utterances["key"]) <= {"bonafide", "spoof"}:
        raise ValueError(f"{manifest}: every utterance needs a key bonafide or spoof")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = {k: v for k, v in (options or {}).items()}
    description = describe(frontend, options)
    settings = {"frontend": frontend, "options": options}
    meta_path = out_dir / "frontend.json"
    reuse = meta_path.is_file() and {k: v for k, v in json.loads(meta_path.read_text()).items()
                                     if k in settings} == settings
    meta_path.unlink(missing_ok=True)     # rewritten when done: an interrupted run reuses nothing
    options_json = json.dumps(options, sort_keys=True)
    jobs = [(u.utt_id, str(root / u.audio_path), str(out_dir / u.split / f"{u.utt_id}.npy"),
             frontend, options_json, reuse) for u in utterances.itertuples()]
    results = run_parallel(_one, jobs, desc=f"{frontend} features", workers=workers, unit="utt")
    done = {utt_id: (frames, dims, reason) for utt_id, frames, dims, reason in results}
    rows, rejects = [], []
    for u in utterances.itertuples():
        frames, dims, reason = done[u.utt_id]
        if reason is not None:
            rejects.append((u.utt_id, str(root / u.audio_path), reason))
            continue
        rows.append((u.utt_id, u.split, u.key, u.attack or "-", u.speaker, frames, dims,
                     f"{u.split}/{u.utt_id}.npy"))
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    index.to_parquet(out_dir / "index.parquet", index=False)
    pd.DataFrame(rejects, columns=["utt_id", "path", "reason"]).to_csv(out_dir / "rejects.csv",
                                                                       index=False)
    for utt_id, path, reason in rejects:
        log.warning("skipped %s (%s): %s", utt_id, path, reason)
    meta_path.write_text(json.dumps({**settings, "description": description,
                                     "pretrained": "RANDOM INITIALISATION" not in description},
                                    indent=2) + "\n")
    log.info("%s features of %d utterances written to %s (%d skipped)", frontend, len(index),
             out_dir, len(rejects))
    return index


def read_index(features_dir: Path) -> pd.DataFrame:
    path = Path(features_dir) / "index.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not an antispoof-features folder")
    return pd.read_parquet(path)


def frontend_info(features_dir: Path) -> dict:
    path = Path(features_dir) / "frontend.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a complete antispoof-features folder")
    return json.loads(path.read_text())


def load_split(features_dir: Path, split: str) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """(index rows of `split`, their feature matrices)."""
    index = read_index(features_dir)
    rows = index[index["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{features_dir}: no utterance in split {split!r} (it has "
                         f"{', '.join(sorted(set(index['split'])))})")
    return rows, [np.load(Path(features_dir) / p) for p in rows["path"]]
