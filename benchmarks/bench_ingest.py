"""Ingestion throughput, voxflow against Lhotse, on synthetic LibriTTS (small and medium, seed 0).

    .venv/bin/python benchmarks/bench_ingest.py [--sizes small medium] [--repeats 3]
        [--workers 2] [--corpora benchmarks/.cache/corpora]
        [--lhotse-python benchmarks/.venv-lhotse/bin/python]

Corpora are built once into `--corpora DIR/<size>/LibriTTS` and reused when present (a build is
complete once its SPEAKERS.txt exists: the builder writes it last). Lhotse lives in its own
virtualenv (see benchmarks/requirements-lhotse.txt) and never in voxflow's.

Every timed run is a fresh subprocess of this file (`_child` mode, standard library only at the
top so that it runs under either interpreter), and both sides are timed the same two ways:

* wall: the subprocess call as seen from here: interpreter start, imports, ingestion and writing
  the manifest, i.e. what a user of either command pays;
* in-process: the ingestion call alone, measured inside the child around
  `voxflow.ingest.ingest("libritts", root, out)` (Parquet manifest and rejects) and
  `lhotse.recipes.prepare_libritts(root, dataset_parts, output_dir, num_jobs)` (JSONL.gz
  recordings and supervisions); both include writing their manifests.

Contenders, in rotating order within each repetition:

* voxflow: `--workers` header-reading threads (voxflow reads headers in a thread pool whose size
  `ingest()` does not expose, 8 by default; the child sets it to `--workers`);
* lhotse: `num_jobs=--workers` (a process pool);
* voxflow-default: voxflow unchanged (8 threads), for reference; not used for the ratio;
* voxflow-cli: the `voxflow ingest libritts ROOT --out FILE` command as users type it (8 threads;
  wall time only), for reference.

The ratio voxflow / Lhotse is Lhotse's median time over voxflow's (2 workers each), wall and
in-process; files/s counts the utterances (wav files) in the manifest.

The page cache is warmed (every file of the corpus read once) before a size's runs, so all runs
read from memory. Utterance sets are compared after the first repetition (same ids, same
`num_samples` per id). Writes benchmarks/results/ingest.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
           "test-clean", "test-other")
CONTENDERS = ("voxflow", "lhotse", "voxflow-default", "voxflow-cli")
VOXFLOW_VERSION = "?"
CHILD_ENV = {"VOXFLOW_PROGRESS": "0", "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}


# --- children: one ingestion each, in a fresh interpreter; standard library only above ---

def _child_voxflow(root: Path, out_dir: Path, threads: int | None) -> dict:
    start = time.perf_counter()
    import functools

    import voxflow.ingest.manifest as manifest
    from voxflow.ingest import ingest
    import voxflow.ingest.libritts  # noqa: F401  (imported before the clock, like lhotse's recipe)
    if threads is not None:
        manifest.read_headers = functools.partial(manifest.read_headers, workers=threads)
    imported = time.perf_counter()
    ingest("libritts", root, out_dir / "libritts.parquet")
    done = time.perf_counter()
    return {"import_s": imported - start, "prepare_s": done - imported}


def _child_lhotse(root: Path, out_dir: Path, jobs: int) -> dict:
    start = time.perf_counter()
    import lhotse
    from lhotse.recipes import prepare_libritts
    imported = time.perf_counter()
    # dataset_parts: lhotse's default ("all") asserts on the first of the seven LibriTTS parts
    # that is absent ("No recordings left after fixing the manifests"), so pass the present ones.
    parts = [s for s in SUBSETS if (root / s).is_dir()]
    prepare_libritts(root, dataset_parts=parts, output_dir=out_dir, num_jobs=jobs)
    done = time.perf_counter()
    return {"import_s": imported - start, "prepare_s": done - imported,
            "version": lhotse.__version__}


def _child(argv: list[str]) -> None:
    side, root, out_dir, workers = argv[0], Path(argv[1]), Path(argv[2]), argv[3]
    if side == "lhotse":
        result = _child_lhotse(root, out_dir, int(workers))
    else:
        result = _child_voxflow(root, out_dir, None if workers == "default" else int(workers))
    (out_dir / "result.json").write_text(json.dumps(result))


# --- parent ---

def _corpus(corpora: Path, size: str) -> Path:
    root = corpora / size / "LibriTTS"
    if not (root / "SPEAKERS.txt").is_file():   # written last by the builder: a complete build
        from voxflow.synth.corpora import build_corpus
        print(f"building LibriTTS {size} (seed 0) into {root.parent} ...", flush=True)
        start = time.perf_counter()
        root = build_corpus("libritts", corpora / size, size=size, seed=0)
        print(f"  built in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def _describe(root: Path) -> dict:
    files = [p for p in root.rglob("*") if p.is_file()]
    for p in files:                     # warm the page cache: every run reads from memory
        p.read_bytes()
    wavs = [p for p in files if p.suffix == ".wav"]
    listed = sum(len(t.read_text(encoding="utf-8").splitlines())
                 for t in root.glob("*/*/*/*.trans.tsv"))
    return {"root": str(root), "files": len(files), "wav_files": len(wavs),
            "trans_tsv_lines": listed, "megabytes": sum(p.stat().st_size for p in files) / 2**20}


def _run(contender: str, root: Path, workers: int, lhotse_python: Path) -> dict:
    python = lhotse_python if contender == "lhotse" else Path(sys.executable)
    side = "lhotse" if contender == "lhotse" else "voxflow"
    arg = "default" if contender == "voxflow-default" else str(workers)
    with tempfile.TemporaryDirectory(prefix=f"bench-ingest-{contender}-") as tmp:
        cmd = [str(python), str(Path(__file__).resolve()), "_child", side, str(root), tmp, arg]
        if contender == "voxflow-cli":      # the command users type; its own defaults
            cmd = [str(Path(sys.executable).parent / "voxflow"), "ingest", "libritts", str(root),
                   "--out", str(Path(tmp) / "libritts.parquet")]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env={**os.environ, **CHILD_ENV}, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"{contender} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result = ({"import_s": None, "prepare_s": None} if contender == "voxflow-cli" else
                  json.loads((Path(tmp) / "result.json").read_text()))
        result.setdefault("version", VOXFLOW_VERSION)
        result.update(_read_lhotse(Path(tmp)) if side == "lhotse" else _read_voxflow(Path(tmp)))
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    return {"contender": contender, "wall_s": wall, "loadavg_1min_before": load,
            "stderr_warnings": warnings, **result}


def _read_voxflow(out_dir: Path) -> dict:
    """Counts and {utt_id: num_samples} from the Parquet manifest (read after the clock)."""
    import pyarrow.parquet as pq
    table = pq.read_table(out_dir / "libritts.parquet")
    rejects = pq.read_table(out_dir / "libritts.rejects.parquet")
    return {"utterances": table.num_rows, "recordings": table.num_rows,
            "rejects": rejects.num_rows,
            "audio_hours": sum(table.column("duration").to_pylist()) / 3600,
            "ids": dict(zip(table.column("utt_id").to_pylist(),
                            table.column("num_samples").to_pylist()))}


def _read_lhotse(out_dir: Path) -> dict:
    """The same from Lhotse's JSONL.gz manifests, with the standard library."""
    def lines(pattern: str) -> list[dict]:
        rows = []
        for path in sorted(out_dir.glob(pattern)):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows += [json.loads(line) for line in f]
        return rows
    recordings = {r["id"]: r for r in lines("libritts_recordings_*.jsonl.gz")}
    supervisions = lines("libritts_supervisions_*.jsonl.gz")
    return {"utterances": len(supervisions), "recordings": len(recordings),
            "audio_hours": sum(s["duration"] for s in supervisions) / 3600,
            "ids": {s["id"]: recordings[s["recording_id"]]["num_samples"]
                    for s in supervisions}}


def _compare(a: dict, b: dict) -> dict:
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return {"only_voxflow": only_a[:20], "only_lhotse": only_b[:20],
            "num_samples_differ": differ[:20], "identical": not (only_a or only_b or differ)}


def _summary(runs: list[dict], contender: str) -> dict:
    mine = [r for r in runs if r["contender"] == contender]
    s = {key: statistics.median(r[key] for r in mine) if mine[0][key] is not None else None
         for key in ("wall_s", "prepare_s", "import_s")}
    s.update(utterances=mine[0]["utterances"], audio_hours=mine[0]["audio_hours"],
             version=mine[0]["version"])
    for t in ("wall", "prepare"):
        seconds = s[f"{t}_s"]
        s[f"files_per_s_{t}"] = s["utterances"] / seconds if seconds else None
        s[f"audio_hours_per_s_{t}"] = s["audio_hours"] / seconds if seconds else None
    return s


def _machine() -> str:
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) / 2**20
    return (f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _table(results: dict) -> str:
    lines = ["| size | tool | utterances | audio (h) | wall (s) | files/s | audio h/s "
             "| in-process (s) | files/s | audio h/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for size, res in results["sizes"].items():
        for name in CONTENDERS:
            s = res["summary"].get(name)
            if s is None:
                continue
            label = {"voxflow": f"voxflow ({results['workers']} threads)",
                     "lhotse": f"Lhotse {s['version']} ({results['workers']} processes)",
                     "voxflow-default": "voxflow (default: 8 threads)",
                     "voxflow-cli": "`voxflow ingest` CLI (8 threads)"}[name]
            cells = [f"{s['wall_s']:.2f}", f"{s['files_per_s_wall']:.0f}",
                     f"{s['audio_hours_per_s_wall']:.2f}"]
            cells += (["n/a"] * 3 if s["prepare_s"] is None else
                      [f"{s['prepare_s']:.2f}", f"{s['files_per_s_prepare']:.0f}",
                       f"{s['audio_hours_per_s_prepare']:.2f}"])
            lines.append(f"| {size} | {label} | {s['utterances']} | {s['audio_hours']:.2f} | "
                         + " | ".join(cells) + " |")
        r = res["ratio_voxflow_over_lhotse"]
        lines.append(f"| {size} | **ratio voxflow / Lhotse** | | | | **x{r['wall']:.2f}** | "
                     f"| | **x{r['prepare']:.2f}** | |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return _child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpora", type=Path, default=HERE / ".cache" / "corpora",
                        help="where the corpora are built, or found: DIR/<size>/LibriTTS")
    parser.add_argument("--lhotse-python", type=Path,
                        default=HERE / ".venv-lhotse" / "bin" / "python")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ingest.json")
    args = parser.parse_args()
    global VOXFLOW_VERSION
    VOXFLOW_VERSION = importlib.metadata.version("voxflow")
    if not args.lhotse_python.is_file():
        raise SystemExit(f"{args.lhotse_python}: no Lhotse interpreter; create it with\n"
                         f"  python3.11 -m venv {HERE / '.venv-lhotse'}\n"
                         f"  {HERE / '.venv-lhotse/bin/pip'} install -r "
                         f"{HERE / 'requirements-lhotse.txt'}")

    results = {"date": datetime.date.today().isoformat(), "machine": _machine(),
               "workers": args.workers, "repeats": args.repeats,
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "timing": "median over repeats; wall = subprocess call (interpreter start, "
                         "imports, ingestion, manifest write); in-process = the ingestion "
                         "call incl. manifest write", "sizes": {}}
    for size in args.sizes:
        root = _corpus(args.corpora, size)
        corpus = _describe(root)
        print(f"\n{size}: {corpus}", flush=True)
        runs, check = [], None
        for rep in range(args.repeats):
            k = rep % len(CONTENDERS)
            order = CONTENDERS[k:] + CONTENDERS[:k]     # rotate who goes first
            for name in order:
                run = _run(name, root, args.workers, args.lhotse_python)
                run["repeat"] = rep
                inner = ("" if run["prepare_s"] is None else
                         f"  in-process {run['prepare_s']:6.2f} s  import {run['import_s']:5.2f} s")
                print(f"  rep {rep} {name:16s} wall {run['wall_s']:6.2f} s{inner}  "
                      f"{run['utterances']} utts, {run['audio_hours']:.3f} h", flush=True)
                runs.append(run)
            if check is None:
                by = {r["contender"]: r["ids"] for r in runs}
                check = _compare(by["voxflow"], by["lhotse"])
                check["voxflow_default_and_cli_identical"] = (
                    by["voxflow"] == by["voxflow-default"] == by["voxflow-cli"])
                print(f"  utterance check: {check}", flush=True)
        for r in runs:
            del r["ids"]
        summary = {name: _summary(runs, name) for name in CONTENDERS}
        v, lh = summary["voxflow"], summary["lhotse"]
        results["sizes"][size] = {
            "corpus": corpus, "utterance_check": check, "runs": runs, "summary": summary,
            "ratio_voxflow_over_lhotse": {"wall": lh["wall_s"] / v["wall_s"],
                                          "prepare": lh["prepare_s"] / v["prepare_s"]}}
    results["lhotse_version"] = results["sizes"][args.sizes[0]]["summary"]["lhotse"]["version"]
    results["voxflow_version"] = results["sizes"][args.sizes[0]]["summary"]["voxflow"]["version"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"\n{_table(results)}\n\nratio = Lhotse time / voxflow time (>1: voxflow faster). "
          f"Raw: {args.out}")


if __name__ == "__main__":
    main()
