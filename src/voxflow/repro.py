"""`dvc repro` on several cores at once: each stage is its own `dvc repro --single-item`,
started once every stage it depends on has finished and the cores its torch threads need (its
params' `threads`) are free, as Snakemake schedules rules by their threads within `--cores`.

DVC runs one stage at a time. It releases its repository lock while a stage's command runs and
takes it again to record the outputs, so independent stages can run in separate `dvc` processes;
`--wait-for-lock` makes each wait its turn for that bookkeeping. Which stages run, and what
dvc.lock records, is DVC's decision as in a plain `dvc repro`: a stage reruns when its
dependencies, parameters or command changed. The threads stay the params', so the outputs do
not depend on the number of cores given."""
from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from voxflow.parallel import default_workers

log = logging.getLogger(__name__)

# the native thread pools a stage's process may start (torch's own count is the stage's params)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Plan:
    """The stages to check, dependencies first (DVC's order), what each waits for, and which
    DVC found changed before any ran (a stage not among them reruns only after one of its
    upstream stages ran, as in `dvc repro`; the others need no `dvc` process)."""
    stages: tuple[str, ...]
    upstream: Mapping[str, frozenset[str]]
    changed: frozenset[str]
    force: bool = False             # rerun every stage (`dvc repro --force`)
    # the torch threads each stage computes on (its params' `threads`); absent: 1
    threads: Mapping[str, int] = field(default_factory=dict)

    def priority(self) -> dict[str, int]:
        """The longest chain of stages from each stage to the end of the DAG, itself included:
        the longest chains start first, as they bound the total time."""
        downstream: dict[str, set[str]] = {stage: set() for stage in self.stages}
        for stage, ups in self.upstream.items():
            for up in ups:
                downstream[up].add(stage)
        chain: dict[str, int] = {}
        for stage in reversed(self.stages):         # dependents before their dependencies
            chain[stage] = 1 + max((chain[d] for d in downstream[stage]), default=0)
        return chain


def plan(targets: Sequence[str] = (), root: Path = Path("."), single_item: bool = False,
         glob: bool = False, force: bool = False) -> Plan:
    """The stages `dvc repro targets` would check (every stage of the project with no targets;
    only the targets with `single_item`, as `dvc repro --single-item`), each with the stages it
    depends on among them."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import collect_stages, plan_repro

    with Repo(str(root)) as repo, repo.lock:
        graph = repo.index.graph           # an edge goes from a stage to one it depends on
        targeted = collect_stages(repo, targets, glob=glob) if targets else None
        if single_item:
            graph = graph.subgraph(targeted or graph.nodes)
        order = plan_repro(graph, targeted)
        names = {stage: stage.addressing for stage in order}
        return Plan(stages=tuple(names[s] for s in order),
                    upstream={names[s]: frozenset(names[d] for d in graph.successors(s))
                              for s in order},
                    changed=frozenset(names[s] for s in order if force or s.changed()),
                    force=force, threads={names[s]: _threads(s) for s in order})


def _threads(stage) -> int:
    """The largest `threads` among a DVC stage's params (0, torch's default: the cores); 1
    where it has none."""
    found = []

    def walk(key: str, value) -> None:
        if isinstance(value, dict):
            for inner, item in value.items():
                walk(inner, item)
        elif key.rsplit(".", 1)[-1] == "threads" and isinstance(value, int):
            found.append(value or default_workers())

    for dependency in stage.params:
        for key, value in dependency.read_params().items():
            walk(key, value)
    return max(found, default=1)


@dataclass
class _Running:
    stage: str
    cores: int
    process: subprocess.Popen
    log_path: Path
    started: float


def run(stages: Plan, cores: int, dvc: str, env: Mapping[str, str], log_dir: Path) -> dict:
    """Run the plan on `cores` cores, each stage's output in `log_dir/<stage>.log`: a stage
    takes as many cores as its torch threads (at most all), and starts when its dependencies
    have finished and its cores are free. Its OpenMP, OpenBLAS and MKL pools get that many
    threads unless `env` sets them: two processes of two spinning threads on two cores wait on
    each other's threads. A failed stage stops new starts; the running ones finish, and it raises
    naming the stage and its log. Returns {"ran": [...], "unchanged": [...], "seconds": {stage:
    wall seconds}}."""
    if cores < 1:
        raise ValueError(f"cores must be 1 or more, got {cores}")
    log_dir.mkdir(parents=True, exist_ok=True)
    priority = stages.priority()
    waiting = list(stages.stages)
    done: set[str] = set()
    running: list[_Running] = []
    failed: list[_Running] = []
    outcome: dict = {"ran": [], "unchanged": [], "seconds": {}}
    bar = tqdm(total=len(waiting), desc="stages", unit="stage",
               disable=env.get("VOXFLOW_PROGRESS", "1") == "0")
    try:
        while waiting or running:
            ready = [s for s in waiting if stages.upstream[s] <= done]
            unchanged = [s for s in ready if s not in stages.changed
                         and not stages.upstream[s] & set(outcome["ran"])]
            if unchanged:               # no process needed; their dependents may be ready now
                for stage in unchanged:
                    waiting.remove(stage)
                    done.add(stage)
                    outcome["unchanged"].append(stage)
                bar.update(len(unchanged))
                continue
            # the longest chains first (of equals, DVC's order), each where its threads fit
            for stage in sorted(ready, key=lambda s: -priority[s]):
                busy = sum(job.cores for job in running)
                needed = min(stages.threads.get(stage, 1), cores)
                if failed or busy + needed > cores:
                    continue
                waiting.remove(stage)
                running.append(_start(stage, needed, dvc, env, log_dir, stages.force))
            if not running:
                break                  # a failure left the rest waiting, or nothing can start
            time.sleep(0.2)
            for job in [job for job in running if job.process.poll() is not None]:
                running.remove(job)
                seconds = time.perf_counter() - job.started
                if job.process.returncode:
                    failed.append(job)
                    log.error("%s failed after %.0f s (exit status %d); its log: %s", job.stage,
                              seconds, job.process.returncode, job.log_path)
                    continue
                done.add(job.stage)
                outcome["seconds"][job.stage] = round(seconds, 1)
                ran = "Running stage" in job.log_path.read_text(errors="replace")
                outcome["ran" if ran else "unchanged"].append(job.stage)
                bar.update()
                bar.write(f"{job.stage}: {'ran' if ran else 'unchanged'} in {seconds:.0f} s")
    finally:
        for job in running:          # interrupted: stop the stages still running
            job.process.terminate()
            job.process.wait()
        bar.close()
    if failed:
        tail = "\n".join(failed[0].log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"stage {failed[0].stage} failed (log {failed[0].log_path}); "
                           f"{len(waiting)} stages not started. Its log ends:\n{tail}")
    if waiting:
        raise RuntimeError(f"stages whose dependencies never finished: {', '.join(waiting)}")
    log.info("%d stages ran, %d unchanged; their logs are in %s", len(outcome["ran"]),
             len(outcome["unchanged"]), log_dir)
    return outcome


def _start(stage: str, cores: int, dvc: str, env: Mapping[str, str], log_dir: Path,
           force: bool) -> _Running:
    log_path = log_dir / f"{stage}.log"
    command = [dvc, "--wait-for-lock", "repro", "--single-item", *(["--force"] if force else []),
               stage]
    with log_path.open("w") as out:      # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env={**{name: str(cores) for name in THREAD_VARIABLES},
                                        **env})
    return _Running(stage, cores, process, log_path, time.perf_counter())
