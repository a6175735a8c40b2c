"""Per-utterance countermeasure features of an ASVspoof manifest (the Siamese spoofing paper's
front-ends), cached on disk (`voxflow.features.cache`): `out_dir/<split>/<utt_id>.npy` (frames,
dims) float32, `index.parquet` (INDEX_COLUMNS: utt_id, split, key, attack, speaker, frames,
dims, path relative to out_dir), `rejects.csv` (utt_id, path, reason) and `frontend.json` (the
front-end, its options and a description in words; for the SSL front-end it says whether the
weights are pretrained or a RANDOM INITIALISATION).

A file that cannot be read, has another sample rate than 16 kHz, is empty, or gives non-finite
features is reported in rejects.csv and skipped. Utterances run in parallel processes, with a
progress bar. When `frontend.json` already holds the same front-end and options, an utterance
the cache already holds is not computed again.
"""
from __future__ import annotations

import json
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pandas as pd

from voxflow.features.cache import (Computed, Rejected, Utterance, cache_features, read_index,
                                    read_mono)
from voxflow.ingest.manifest import read_manifest

FRONTENDS = ("lfcc", "cqcc", "ssl")
SAMPLE_RATE = 16000
INDEX_COLUMNS = ["utt_id", "split", "key", "attack", "speaker", "frames", "dims", "path"]


SSL_PRESETS = ("voxflow", "tiny", "paper")


def ssl_config(options: dict):
    """params.yaml's `antispoof.frontends.ssl` (preset tiny or paper) -> SSLConfig: `preset`
    tiny (a narrow wav2vec 2.0 of the bundle's strides) or paper (WAV2VEC2_LARGE), `bundle`,
    `layer`, `checkpoint` (a local state dict; none: random initialisation unless torch.hub's
    cache holds the bundle's weights) and `seed`."""
    from voxflow.antispoof.frontends import SSLConfig, _tiny_ssl_params

    preset = options.get("preset", "tiny")     # checked by `_ssl_frontend`, its one caller
    bundle = options.get("bundle") or ("WAV2VEC2_BASE" if preset == "tiny" else "WAV2VEC2_LARGE")
    return SSLConfig(bundle=bundle, layer=options.get("layer"),
                     checkpoint=options.get("checkpoint"), seed=options.get("seed", 0),
                     overrides=_tiny_ssl_params() if preset == "tiny" else {})


def _ssl_frontend(options: dict):
    """The SSL front-end of `options`: preset voxflow reads voxflow's own encoder from
    `encoder` (the anon-ssl stage's ssl.pt), tiny and paper a torchaudio bundle."""
    preset = options.get("preset", "tiny")
    if preset not in SSL_PRESETS:
        raise ValueError(f"unknown SSL preset {preset!r}: one of {', '.join(SSL_PRESETS)}")
    if preset == "voxflow":
        from voxflow.antispoof.frontends import VoxflowSSLFrontEnd
        if not options.get("encoder"):
            raise ValueError("SSL preset voxflow needs `encoder`, the path of voxflow's SSL "
                             "encoder (models/anonymization/ssl/ssl.pt, from anon-ssl)")
        return VoxflowSSLFrontEnd(options["encoder"], options.get("layer"))
    from voxflow.antispoof.frontends import SSLFrontEnd
    return SSLFrontEnd(ssl_config(options))


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

        torch.set_num_threads(1)
        model = _ssl_frontend(options)
        return model.features, f"SSL {model.description}"
    raise ValueError(f"unknown front-end {frontend!r}: one of {', '.join(FRONTENDS)}")


def make_extractor(frontend: str, options: dict):
    """The front-end as a function waveform (samples,) float32 16 kHz -> (frames, dims)."""
    return _extractor(frontend, json.dumps(options, sort_keys=True))[0]


def describe(frontend: str, options: dict) -> str:
    return _extractor(frontend, json.dumps(options, sort_keys=True))[1]


def _frontend_features(utterance: Utterance, frontend: str, options_json: str) -> Computed:
    audio = read_mono(utterance.audio_path, SAMPLE_RATE)
    if len(audio) == 0:
        raise Rejected("no samples")
    features = _extractor(frontend, options_json)[0](audio)
    if features.ndim != 2 or features.shape[0] == 0 or not np.isfinite(features).all():
        raise Rejected(f"no finite features (shape {features.shape})")
    return ({"path": features.astype(np.float32)},
            {"frames": int(features.shape[0]), "dims": int(features.shape[1])})


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
    options = {k: v for k, v in (options or {}).items()}
    description = describe(frontend, options)
    settings = {"frontend": frontend, "options": options}
    meta_path = out_dir / "frontend.json"
    reuse = meta_path.is_file() and {k: v for k, v in json.loads(meta_path.read_text()).items()
                                     if k in settings} == settings
    meta_path.unlink(missing_ok=True)     # rewritten when done: an interrupted run reuses nothing
    jobs = [Utterance(u.utt_id, str(root / u.audio_path),
                      fields={"split": u.split, "key": u.key, "attack": u.attack or "-",
                              "speaker": u.speaker},
                      arrays={"path": f"{u.split}/{u.utt_id}.npy"})
            for u in utterances.itertuples()]
    compute = partial(_frontend_features, frontend=frontend,
                      options_json=json.dumps(options, sort_keys=True))
    index = cache_features(jobs, compute, out_dir, INDEX_COLUMNS, desc=f"{frontend} features",
                           workers=workers, reuse=reuse)
    meta_path.write_text(json.dumps({**settings, "description": description,
                                     "pretrained": "RANDOM INITIALISATION" not in description},
                                    indent=2) + "\n")
    return index


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
