"""Inference real-time factor of the Parallel WaveNet student against the cached autoregressive
WaveNet teacher, at tiny and paper sizes, on CPU and CUDA.

    python benchmarks/bench_vocoder.py [--sizes tiny paper] [--device auto|cpu|cuda ...]
        [--repeats 3] [--student-seconds 1 4] [--teacher-seconds 0.25] [--teacher-budget 20]
        [--precision fp32 [bf16]] [--threads N] [--out benchmarks/results/vocoder.json]

RTF = compute seconds / audio seconds (below 1: faster than real time; 24 kHz audio, hop 300,
80 frames/s, 80 mel bins). Both models are randomly initialised (seed 0): their speed does not
depend on the weights, nor on the input, random N(0, 1) log-mel frames, batch 1.

- student: `ParallelWaveNetStudent.synthesize(mel)` (conditioning network, logistic noise and
  every flow over all samples at once), for each of `--student-seconds`.
- teacher: `teacher.conditioning(mel)` then `teacher.generate(cond)` (one cached step per sample,
  Fast-WaveNet queues) on a short clip of `--teacher-seconds`. A step costs the same whatever
  the position, so the time is linear in the length: a run still going after `--teacher-budget`
  seconds is stopped at the next frame boundary (its `step` is wrapped to count and check the
  clock), and the clip's time is extrapolated from the per-sample cost of the samples generated;
  the JSON and the table mark it. Teacher RTF = median per-sample cost x 24000.
- student speed-up = teacher RTF / student RTF, i.e. the teacher's time extrapolated to the
  student's duration over the student's time.

Each workload is run once to warm up (the first call of a process costs seconds on CPU), then
`--repeats` rounds, the order of the workloads reversed every other round; medians reported
(RTF and speed-up from them), the fastest run beside them. Process CPU time, page faults and
load average of every run are in the JSON.
Everything runs under torch.inference_mode; on CUDA, torch.cuda.synchronize() before and after
each timed call, and with `--precision fp32 bf16` (the CUDA default) also under bf16 autocast.
CPU threads: all cores available to the process (`--threads` to change). `--device auto` is cuda
when available, else cpu; `--device cpu cuda` runs both. Writes `--out` (every run included) and
prints a Markdown table.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

from voxflow.vocoder.models import ParallelWaveNetStudent, VocoderConfig, WaveNetTeacher

SAMPLE_RATE = 24000


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _machine() -> str:
    mem = ""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        mem = f", {int(meminfo.readline().split()[1]) / 2**20:.0f} GiB"
    return (f"{platform.machine()} ({_cpu_name()}), {os.cpu_count()} cores{mem}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _BudgetSpent(Exception):
    pass


class Workload:
    """Timed calls of one model at one precision: the student on `clip_frames` frames, or the
    teacher's `generate` on a clip of `clip_frames` frames, stopped at the first frame boundary
    after `budget` seconds (then only the samples generated so far are counted)."""

    def __init__(self, model: str, module: torch.nn.Module, clip_frames: int, precision: str,
                 device: torch.device, hop: int, n_mels: int, budget: float):
        self.model, self.module, self.precision, self.device = model, module, precision, device
        self.clip_frames, self.hop, self.n_mels, self.budget = clip_frames, hop, n_mels, budget
        self.runs: list[float] = []
        self.samples: list[int] = []
        self.cpu: list[dict] = []
        self.warmup: list[dict] = []
        self.peak_memory: int | None = None

    @property
    def name(self) -> str:
        return f"{self.model} {self.clip_frames * self.hop / SAMPLE_RATE:g} s {self.precision}"

    def _generate(self, cond: torch.Tensor, deadline: float) -> int:
        """`teacher.generate(cond)` with its `step` counted and, past the deadline, aborted at
        the next frame boundary -> the number of samples generated."""
        teacher, step, count = self.module, self.module.step, 0

        def counted_step(*args, **kwargs):
            nonlocal count
            if count and count % self.hop == 0 and time.perf_counter() > deadline:
                raise _BudgetSpent
            count += 1
            return step(*args, **kwargs)

        teacher.step = counted_step      # an instance attribute shadows the method
        try:
            audio = teacher.generate(cond)
        except _BudgetSpent:
            return count
        finally:
            del teacher.step
        if audio.shape != (1, count):
            raise RuntimeError(f"teacher returned {tuple(audio.shape)} after {count} steps")
        return count

    def _call(self, mel: torch.Tensor, deadline: float) -> int:
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            if self.model == "teacher":
                cond, _ = self.module.conditioning(mel)
                return self._generate(cond, deadline)
            audio = self.module.synthesize(mel)
        if audio.shape != (1, mel.shape[1] * self.hop):
            raise RuntimeError(f"student returned {tuple(audio.shape)} for {mel.shape[1]} "
                               "frames")
        return audio.shape[-1]

    def _timed(self, frames: int, budget: float) -> tuple[float, int]:
        generator = torch.Generator(device="cpu").manual_seed(frames)
        mel = torch.randn(1, frames, self.n_mels, generator=generator).to(self.device)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        samples = self._call(mel, start + budget)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - start, samples

    def warm_up(self) -> None:
        # the teacher on one frame: its cost is per sample, the first call's one-off costs
        # are what is to be paid here
        frames = self.clip_frames if self.model == "student" else 1
        seconds, samples = self._timed(frames, float("inf"))
        self.warmup.append({"samples": samples, "seconds": seconds})

    def measure(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        before = resource.getrusage(resource.RUSAGE_SELF)
        seconds, samples = self._timed(self.clip_frames, self.budget)
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.runs.append(seconds)
        self.samples.append(samples)
        # process CPU time: user > threads x wall is spinning; high sys is page faults
        self.cpu.append({"user": after.ru_utime - before.ru_utime,
                         "sys": after.ru_stime - before.ru_stime,
                         "minor_faults": after.ru_minflt - before.ru_minflt,
                         "loadavg_1min": os.getloadavg()[0]})
        if self.device.type == "cuda":
            self.peak_memory = max(self.peak_memory or 0,
                                   torch.cuda.max_memory_allocated(self.device))

    def row(self) -> dict:
        clip_samples = self.clip_frames * self.hop
        per_sample = [t / n for t, n in zip(self.runs, self.samples)]
        median, fastest = statistics.median(per_sample), min(per_sample)
        return {"model": self.model, "precision": self.precision,
                "audio_seconds": clip_samples / SAMPLE_RATE,
                "generated_samples": self.samples,
                "extrapolated": min(self.samples) < clip_samples,
                "seconds_for_audio": median * clip_samples,
                "min_seconds_for_audio": fastest * clip_samples,
                "ms_per_sample": 1000 * median, "rtf": median * SAMPLE_RATE,
                "peak_cuda_memory_mib": (self.peak_memory / 2**20 if self.peak_memory else None),
                "warmup": self.warmup, "runs": self.runs, "runs_cpu_time": self.cpu}


def _bench_size(size: str, device: torch.device, args) -> dict:
    config = getattr(VocoderConfig, size)()
    hop, n_mels = config.conditioning.hop_length, config.conditioning.n_mels
    frame_rate = SAMPLE_RATE / hop
    torch.manual_seed(0)
    teacher = WaveNetTeacher(config).eval().to(device)
    student = ParallelWaveNetStudent.from_teacher(teacher).eval().to(device)
    # the conditioning network is shared; its Audio Encoder is not run at inference (e = 0)
    shared = sum(p.numel() for p in teacher.conditioning.parameters())
    encoder = teacher.conditioning.encoder
    params = {"conditioning": shared,
              "audio_encoder": sum(p.numel() for p in encoder.parameters()) if encoder else 0,
              "teacher": sum(p.numel() for p in teacher.parameters()) - shared,
              "student": sum(p.numel() for p in student.parameters()) - shared}
    precisions = args.precision or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    workloads = []
    for precision in precisions:
        workloads += [Workload("student", student, round(s * frame_rate), precision, device, hop,
                               n_mels, float("inf")) for s in args.student_seconds]
        workloads.append(Workload("teacher", teacher, max(1, round(args.teacher_seconds
                                                                   * frame_rate)),
                                  precision, device, hop, n_mels, args.teacher_budget))
    for w in workloads:
        w.warm_up()
        warmups = ", ".join(f"{x['seconds']:.2f} s" for x in w.warmup)
        print(f"  {size} {device.type}: warm-up {w.name}: {warmups}", flush=True)
    for round_ in range(args.repeats):
        for w in (workloads if round_ % 2 == 0 else workloads[::-1]):
            w.measure()
            print(f"  {size} {device.type}: round {round_ + 1} {w.name}: {w.runs[-1]:.3f} s",
                  flush=True)
    rows = [w.row() for w in workloads]
    for r in rows:
        if r["model"] == "student":
            teacher_row = next(t for t in rows if t["model"] == "teacher"
                               and t["precision"] == r["precision"])
            r["speedup_over_teacher"] = teacher_row["rtf"] / r["rtf"]
    del teacher, student
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"size": size, "device": device.type, "parameters": params, "rows": rows}


def _device_name(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name()}, {threads} threads"


def _markdown(results: list[dict], repeats: int, threads: int, budget: float) -> list[str]:
    lines = [f"| size | device | precision | model (parameters\\*) | audio (s) | time (s), median "
             f"of {repeats} | fastest (s) | RTF | student speed-up over teacher |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for res in results:
        device = f"cpu ({threads} threads)" if res["device"] == "cpu" else res["device"]
        for r in res["rows"]:
            name = ("student (parallel)" if r["model"] == "student"
                    else "teacher (cached autoregressive)")
            model = f"{name} ({res['parameters'][r['model']] / 1e6:.2f} M)"
            time_cell = f"{r['seconds_for_audio']:.3g}"
            fastest = f"{r['min_seconds_for_audio']:.3g}"
            if r["extrapolated"]:
                notes.append(r)
                time_cell += f" ‡{len(notes)}"
                fastest += f" ‡{len(notes)}"
            speedup = (f"x{r['speedup_over_teacher']:.0f}" if "speedup_over_teacher" in r
                       else "")
            lines.append(f"| {res['size']} | {device} | {r['precision']} | {model} | "
                         f"{r['audio_seconds']:g} | {time_cell} | {fastest} | {r['rtf']:.3g} | "
                         f"{speedup} |")
    mel_params = {res["size"]: res["parameters"]["conditioning"]
                  - res["parameters"]["audio_encoder"] for res in results}
    shared = ", ".join(f"{size} {n / 1e6:.2f} M" for size, n in mel_params.items())
    lines.append(f"\n\\* without the conditioning network both share and both run (mel BiLSTMs: "
                 f"{shared}; the Audio Encoder is not run, e = 0).")
    for i, r in enumerate(notes, 1):
        counts = ", ".join(map(str, r["generated_samples"]))
        lines.append(f"\n‡{i} extrapolated: the {budget:g} s budget stopped the runs after "
                     f"{counts} of {round(r['audio_seconds'] * SAMPLE_RATE)} samples (median "
                     f"{r['ms_per_sample']:.2f} ms/sample); the rest of the clip at the same "
                     "per-sample cost.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", choices=["tiny", "paper"],
                        default=["tiny", "paper"])
    parser.add_argument("--device", nargs="+", choices=["auto", "cpu", "cuda"], default=["auto"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--student-seconds", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--teacher-seconds", type=float, default=0.25)
    parser.add_argument("--teacher-budget", type=float, default=20.0,
                        help="seconds after which a timed teacher run stops at the next frame "
                             "boundary; the rest of the clip is extrapolated")
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16"],
                        help="default: fp32 on cpu, fp32 and bf16 (autocast) on cuda")
    parser.add_argument("--threads", type=int, default=_available_cores())
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "vocoder.json")
    args = parser.parse_args()
    devices = []
    for d in args.device:
        d = ("cuda" if torch.cuda.is_available() else "cpu") if d == "auto" else d
        if d == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda: torch.cuda.is_available() is False")
        if d not in devices:
            devices.append(d)
    torch.set_num_threads(args.threads)

    results, device_names = [], {}
    started = time.perf_counter()
    for d in devices:
        device = torch.device(d)
        device_names[d] = _device_name(device, torch.get_num_threads())
        for size in args.sizes:
            print(f"{size} on {device_names[d]}", flush=True)
            results.append(_bench_size(size, device, args))
    total = time.perf_counter() - started

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "machine": _machine(),
        "command": " ".join(["python benchmarks/bench_vocoder.py", *sys.argv[1:]]),
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "devices": device_names,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "sample_rate": SAMPLE_RATE, "weights": "random initialisation, seed 0",
        "input": "random N(0, 1) log-mel frames, batch 1",
        "repeats": args.repeats, "teacher_budget_seconds": args.teacher_budget,
        "timing": "median over repeats, warm-up run first, order reversed every other round; "
                  "teacher: conditioning + generate, RTF = median per-sample cost x sample "
                  "rate; student: synthesize; the log-mel is on the device before the clock",
        "total_seconds": total, "results": results}, indent=1) + "\n")

    print(f"\n{torch.__version__}; {_machine()}; total {total:.0f} s\n")
    print("\n".join(_markdown(results, args.repeats, torch.get_num_threads(),
                               args.teacher_budget)))
    for res in results:
        students = [r for r in res["rows"] if r["model"] == "student"
                    and r["precision"] == "fp32"]
        if res["size"] == "tiny" and res["device"] == "cpu" and students:
            met = all(r["rtf"] < 1 for r in students)
            rtfs = ", ".join(f"{r['rtf']:.3g} at {r['audio_seconds']:g} s" for r in students)
            print(f"\ntarget, tiny student faster than real time on {torch.get_num_threads()} "
                  f"CPU threads: {'met' if met else 'NOT met'} (RTF {rtfs})")
        if res["size"] == "paper" and res["device"] == "cuda" and students:
            worst = min(r["speedup_over_teacher"] for r in students)
            print(f"\ntarget, paper student >= 100x the teacher on {device_names['cuda']} (fp32): "
                  f"{'met' if worst >= 100 else 'NOT met'} (lowest x{worst:.0f})")


if __name__ == "__main__":
    main()
