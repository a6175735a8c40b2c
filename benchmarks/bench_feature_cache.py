"""The shared feature cache (`voxflow.features.cache`) against the code before it: time, peak
memory and output bytes of both feature extractions, baseline `src/` and this checkout's side by
side.

    .venv/bin/python benchmarks/bench_feature_cache.py [--baseline a18865d] [--repeats 3]
        [--size tiny] [--threads 1] [--cache benchmarks/.cache/feature_cache]
        [--out benchmarks/results/feature_cache.json]

The baseline's `src/` is extracted with `git archive <rev> src | tar -x` into a temporary
folder; "current" is this checkout's `src/` (the working tree, committed or not). The synthetic
LibriTTS and ASVspoof corpora of `--size` (seed 0) are built and ingested once, with the current
code, into `--cache/<size>/` and reused afterwards (complete once its `done.json` exists); every
file of both is read once before the runs, so all runs read audio from the page cache.

Tasks, each the same call on both sides (the signatures did not change):

* vocoder-logmel: `voxflow.vocoder.data.extract_features(libritts manifest, out, LogMelConfig())`
  (both sides compute in the calling process, with torch);
* antispoof-lfcc: `voxflow.antispoof.features.extract_features(asvspoof manifest, "lfcc", out,
  {}, workers=2)` (a pool of 2 forked workers);
* antispoof-lfcc-reuse: the same call again on a folder that already holds that side's complete
  lfcc cache (a copy, made before the clock, of the antispoof-lfcc output of the same repeat):
  the path where nothing is recomputed.

Every run is a fresh subprocess of this file (`--child`) with PYTHONPATH=<that side's src>
(checked: the child reports the voxflow it imported), VOXFLOW_PROGRESS=0 and `--threads`
OpenMP/MKL/BLAS threads (OMP_NUM_THREADS etc.; default 1, 0 leaves the libraries' defaults),
writing into a fresh output folder. One thread by default because on a shared 2-core machine
torch's 2 OpenMP threads stall whenever another job holds a core: the log-mel call then takes 3
to 8 times its single-thread time, whichever code runs. Both sides use the same setting, so their
outputs can still be compared byte for byte.

The child imports voxflow's modules first (the front-end module too, which the call would
otherwise import lazily) and then times only the call with `time.perf_counter`. It reports as
JSON, from /proc/self/status: its RSS before the call, its peak RSS over its whole life (VmHWM
before the call and after it; the peak mark is reset just before the call with `echo 5 >
/proc/self/clear_refs`, so the mark after it is the call's own peak), and the peak RSS
(ru_maxrss from os.wait4) of every pool worker it reaps. `RUSAGE_CHILDREN` would not do: it also
counts `ldconfig -p`, run at import, whose ru_maxrss is this process's RSS when it exec'd. The
parent also records the wall time of the subprocess. Within each repeat, each task runs baseline
then current, back to back, so both see the same machine load. Medians over the repeats.

Outputs: the md5 of every file of every run's folder is compared with the first baseline run of
that task (and the reuse runs with the antispoof-lfcc runs): byte-identical or not, per task.
Prints a Markdown table and writes the raw figures to `--out`.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TASKS = ("vocoder-logmel", "antispoof-lfcc", "antispoof-lfcc-reuse")
SIDES = ("baseline", "current")
CHILD_ENV = {"VOXFLOW_PROGRESS": "0", "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# --- child: one extraction, in a fresh interpreter ---

def _status_kb(field: str) -> int:
    """VmRSS, VmHWM (the peak since exec or the last reset) of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _record_worker_peaks() -> list[int]:
    """The peak RSS (kB) of every multiprocessing worker this process reaps from now on.

    `multiprocessing.popen_fork.Popen.poll` as in the standard library, with os.wait4 in place of
    os.waitpid to get the worker's rusage. RUSAGE_CHILDREN cannot tell workers apart: it also
    holds `ldconfig -p` (run by ctypes.util.find_library at import), whose ru_maxrss is this
    process's RSS when it exec'd."""
    import multiprocessing.popen_fork as popen_fork

    peaks: list[int] = []

    def poll(self, flag=os.WNOHANG):
        if self.returncode is None:
            try:
                pid, sts, usage = os.wait4(self.pid, flag)
            except OSError:
                return None
            if pid == self.pid:
                peaks.append(usage.ru_maxrss)
                self.returncode = os.waitstatus_to_exitcode(sts)
        return self.returncode

    popen_fork.Popen.poll = poll
    return peaks


def _child(task: str, manifest: str, out_dir: str) -> None:
    import resource

    import voxflow
    if task == "vocoder-logmel":
        from voxflow.features.logmel import LogMelConfig
        from voxflow.vocoder.data import extract_features

        def call():
            return extract_features(Path(manifest), Path(out_dir), LogMelConfig())
    else:
        import voxflow.antispoof.frontends  # noqa: F401  (imported lazily by the call otherwise)
        from voxflow.antispoof.features import extract_features

        def call():
            return extract_features(Path(manifest), "lfcc", Path(out_dir), {}, workers=2)
    worker_peaks = _record_worker_peaks()
    rss_before, peak_imports = _status_kb("VmRSS"), _status_kb("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")     # VmHWM := VmRSS: the call's own peak
    start, cpu = time.perf_counter(), time.process_time()
    index = call()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "seconds": seconds, "cpu_s_main": cpu, "rows": len(index), "voxflow": voxflow.__file__,
        "rss_before_call_kb": rss_before, "peak_rss_imports_kb": peak_imports,
        "peak_rss_call_kb": _status_kb("VmHWM"),
        "peak_rss_main_kb": max(peak_imports, _status_kb("VmHWM")),
        "ru_maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "workers": len(worker_peaks), "peak_rss_worker_kb": max(worker_peaks, default=0),
        "peak_rss_workers_kb": worker_peaks}))


# --- parent ---

def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def _extract_baseline(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", rev, "src"], cwd=REPO, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {rev} src failed")
    return into / "src"


def _corpora(cache: Path, size: str) -> dict:
    """{"libritts": manifest, "asvspoof": manifest, ...}: built and ingested on first use."""
    folder = cache / size
    done = folder / "done.json"
    if done.is_file():
        return json.loads(done.read_text())
    from voxflow.ingest import ingest
    from voxflow.synth.corpora import build_corpus

    shutil.rmtree(folder, ignore_errors=True)
    info = {}
    for name in ("libritts", "asvspoof"):
        start = time.perf_counter()
        root = build_corpus(name, folder / "corpora", size=size, seed=0)
        manifest = folder / "manifests" / f"{name}.parquet"
        rows = ingest(name, root, manifest).num_rows
        info[name] = {"root": str(root), "manifest": str(manifest), "utterances": rows,
                      "build_and_ingest_s": time.perf_counter() - start}
        print(f"built and ingested {name} ({size}): {rows} utterances", flush=True)
    done.write_text(json.dumps(info, indent=2) + "\n")
    return info


def _warm(root: Path) -> tuple[int, int]:
    files = size = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size += len(path.read_bytes())
        files += 1
    return files, size


def _md5s(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(side_src: Path, task: str, manifest: str, out_dir: Path, threads: int) -> dict:
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(side_src)}
    if threads:
        env.update({var: str(threads) for var in THREAD_VARS})
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", task,
                           manifest, str(out_dir)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{task} with {side_src} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["voxflow"]).resolve().is_relative_to(side_src.resolve()):
        raise SystemExit(f"the child imported {result['voxflow']}, not voxflow from {side_src}")
    return {**result, "wall_s": wall, "loadavg": os.getloadavg()[0]}


def _mib(kb: float) -> float:
    return kb / 1024


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="a18865d")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP/MKL/BLAS threads of each child (0: the libraries' "
                             "defaults, one per core)")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache" / "feature_cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "feature_cache.json")
    args = parser.parse_args()

    baseline_sha = _git("rev-parse", f"{args.baseline}^{{commit}}")
    head_sha = _git("rev-parse", "HEAD")
    src_dirty = bool(_git("status", "--porcelain", "--", "src"))
    corpora = _corpora(args.cache, args.size)
    warmed = {name: _warm(Path(c["root"])) for name, c in corpora.items()}
    manifests = {"vocoder-logmel": corpora["libritts"]["manifest"],
                 "antispoof-lfcc": corpora["asvspoof"]["manifest"],
                 "antispoof-lfcc-reuse": corpora["asvspoof"]["manifest"]}

    runs: list[dict] = []
    reference: dict[str, dict[str, str]] = {}     # task -> md5s of its first baseline run
    identical = {task: True for task in TASKS}
    differences: dict[str, list[str]] = {task: [] for task in TASKS}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_feature_cache_") as tmp:
        tmp = Path(tmp)
        srcs = {"baseline": _extract_baseline(baseline_sha, tmp / "baseline"),
                "current": REPO / "src"}
        for repeat in range(args.repeats):
            for task in TASKS:
                for side in SIDES:
                    out_dir = tmp / "runs" / f"{task}-{side}-{repeat}"
                    if task == "antispoof-lfcc-reuse":
                        shutil.copytree(tmp / "runs" / f"antispoof-lfcc-{side}-{repeat}", out_dir)
                    result = _run(srcs[side], task, manifests[task], out_dir, args.threads)
                    md5s = _md5s(out_dir)
                    # the reuse run must leave exactly the fresh lfcc cache
                    ref_task = "antispoof-lfcc" if task == "antispoof-lfcc-reuse" else task
                    reference.setdefault(ref_task, md5s)
                    same = md5s == reference[ref_task]
                    if not same:
                        identical[task] = False
                        ref = reference[ref_task]
                        changed = sorted(p for p in set(md5s) | set(ref)
                                         if md5s.get(p) != ref.get(p))
                        differences[task].append(
                            f"{side} repeat {repeat}: {len(changed)} files: "
                            + ", ".join(changed[:10]))
                    runs.append({"task": task, "side": side, "repeat": repeat, **result,
                                 "files": len(md5s), "bytes": sum(
                                     p.stat().st_size for p in out_dir.rglob("*") if p.is_file()),
                                 "identical_to_reference": same})
                    print(f"repeat {repeat} {task:22s} {side:8s} {result['seconds']:7.3f} s  "
                          f"peak RSS {_mib(result['peak_rss_main_kb']):4.0f} MiB main (call "
                          f"+{_mib(result['peak_rss_call_kb'] - result['rss_before_call_kb']):3.0f}"
                          f"), {_mib(result['peak_rss_worker_kb']):4.0f} MiB worker  "
                          f"{'identical' if same else 'DIFFERENT'}", flush=True)
                    if task != "antispoof-lfcc":
                        shutil.rmtree(out_dir)
                    if task == "antispoof-lfcc-reuse":
                        shutil.rmtree(tmp / "runs" / f"antispoof-lfcc-{side}-{repeat}")

    summary = []
    for task in TASKS:
        row = {"task": task, "identical": identical[task]}
        for side in SIDES:
            mine = [r for r in runs if r["task"] == task and r["side"] == side]
            row[side] = {
                "median_s": statistics.median(r["seconds"] for r in mine),
                "min_s": min(r["seconds"] for r in mine),
                "median_cpu_s_main": statistics.median(r["cpu_s_main"] for r in mine),
                "max_s": max(r["seconds"] for r in mine),
                "median_wall_s": statistics.median(r["wall_s"] for r in mine),
                "peak_rss_main_mib": statistics.median(_mib(r["peak_rss_main_kb"])
                                                       for r in mine),
                "call_rss_rise_mib": statistics.median(
                    _mib(r["peak_rss_call_kb"] - r["rss_before_call_kb"]) for r in mine),
                "peak_rss_worker_mib": statistics.median(_mib(r["peak_rss_worker_kb"])
                                                         for r in mine),
                "workers": mine[0]["workers"],
                "rows": mine[0]["rows"], "files": mine[0]["files"], "bytes": mine[0]["bytes"]}
        row["ratio_current_over_baseline"] = (row["current"]["median_s"]
                                              / row["baseline"]["median_s"])
        summary.append(row)

    import numpy
    import pandas
    import pyarrow
    import torch
    record = {
        "date": datetime.date.today().isoformat(), "machine": platform.machine(),
        "platform": platform.platform(), "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)), "python": platform.python_version(),
        "torch": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__, "baseline": baseline_sha, "current_head": head_sha,
        "current_src_uncommitted_changes": src_dirty, "size": args.size, "seed": 0,
        "repeats": args.repeats, "threads": args.threads or "library defaults",
        "corpora": corpora,
        "warmed_files_bytes": warmed, "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(), "summary": summary,
        "differences": {t: d for t, d in differences.items() if d}, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    print(f"\nbaseline {baseline_sha[:7]} vs current {head_sha[:7]}"
          f"{' + uncommitted src changes' if src_dirty else ''}; {args.size}, "
          f"{args.repeats} repeats, medians, {args.threads or 'default'} OpenMP thread(s); "
          f"load average {load_before[0]:.2f} -> {record['loadavg_after'][0]:.2f}\n")
    print("| task | utterances | baseline (s) | current (s) | ratio current/baseline | "
          "peak RSS, main process: baseline / current (MiB) | rise in the call: baseline / "
          "current (MiB) | largest worker: baseline / current (MiB) | outputs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in summary:
        b, c = row["baseline"], row["current"]

        def worker(side):
            return f"{side['peak_rss_worker_mib']:.0f}" if side["workers"] else "no worker"
        print(f"| {row['task']} | {b['rows']} | {b['median_s']:.3f} | {c['median_s']:.3f} | "
              f"x{row['ratio_current_over_baseline']:.2f} | "
              f"{b['peak_rss_main_mib']:.0f} / {c['peak_rss_main_mib']:.0f} | "
              f"{b['call_rss_rise_mib']:.0f} / {c['call_rss_rise_mib']:.0f} | "
              f"{worker(b)} / {worker(c)} | "
              f"{'byte-identical' if row['identical'] else 'DIFFERENT'} ({b['files']} files) |")
    for task, diff in record["differences"].items():
        print(f"\n{task}: outputs differ: " + "; ".join(diff))
    print(f"\nall outputs byte-identical: {all(identical.values())}; wrote {args.out}")


if __name__ == "__main__":
    main()
