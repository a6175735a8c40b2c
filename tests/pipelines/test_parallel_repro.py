"""`voxflow repro --cores` (voxflow.repro): DVC's stages on several processes, each started once
its dependencies finished, on a small DVC project of shell stages that record when they ran."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
import zc.lockfile

from voxflow import repro
from voxflow.tracking import data_version

DVC = str(Path(sys.executable).parent / "dvc")
# a stage that records its start and end times, and fails when its output is named "fail"
STAGE = ("import sys, time; start = time.time(); time.sleep({seconds}); "
         "assert '{out}' != 'fail.txt'; "
         "open('{out}', 'w').write(f'{{start}} {{time.time()}}')")


def _stage(out: str, deps: list[str], seconds: float = 0.0) -> dict:
    return {"cmd": f'{sys.executable} -c "{STAGE.format(seconds=seconds, out=out)}"',
            "deps": deps, "outs": [out]}


def _project(root: Path, stages: dict) -> Path:
    """A git and DVC project with these stages; params.yaml gives `heavy` two threads."""
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=root, check=True)
    (root / "input.txt").write_text("1\n")
    (root / "params.yaml").write_text(yaml.safe_dump({"heavy": {"threads": 2}}))
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    return root


def _diamond(root: Path) -> Path:
    """a; b and c each after a, 2 s each; d after a and c."""
    return _project(root, {"a": _stage("a.txt", ["input.txt"]),
                           "b": _stage("b.txt", ["a.txt"], seconds=2),
                           "c": _stage("c.txt", ["a.txt"], seconds=2),
                           "d": _stage("d.txt", ["a.txt", "c.txt"])})


def _interval(root: Path, out: str) -> tuple[float, float]:
    start, end = (float(t) for t in (root / out).read_text().split())
    return start, end


def _run(root: Path, cores: int, monkeypatch) -> dict:
    monkeypatch.chdir(root)
    env = {"PATH": str(Path(DVC).parent), "VOXFLOW_PROGRESS": "0"}
    return repro.run(repro.plan(), cores, DVC, env, root / "logs")


def test_plan_lists_dependencies_first_with_each_stages_upstream(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    monkeypatch.chdir(root)
    plan = repro.plan(["d"])
    assert plan.stages[0] == "a" and plan.stages[-1] == "d" and set(plan.stages) == set("acd")
    assert plan.upstream == {"a": frozenset(), "c": {"a"}, "d": {"a", "c"}}
    assert plan.changed == {"a", "c", "d"}                # nothing ran yet


def test_a_single_item_plan_holds_the_targets_only(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    monkeypatch.chdir(root)
    plan = repro.plan(["b", "d", "c"], single_item=True)
    assert plan.stages.index("c") < plan.stages.index("d") and set(plan.stages) == set("bcd")
    assert plan.upstream == {"b": frozenset(), "c": frozenset(), "d": {"c"}}


def test_priority_is_the_longest_chain_to_the_end():
    plan = repro.Plan(stages=("a", "b", "c", "d"),
                      upstream={"a": frozenset(), "b": frozenset("a"), "c": frozenset(),
                                "d": frozenset("b")}, changed=frozenset("abcd"))
    assert plan.priority() == {"a": 3, "b": 2, "c": 1, "d": 1}


def test_independent_stages_overlap_and_dependents_wait(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    outcome = _run(root, 2, monkeypatch)
    assert sorted(outcome["ran"]) == ["a", "b", "c", "d"] and outcome["unchanged"] == []
    (a, b, c, d) = (_interval(root, f"{name}.txt") for name in "abcd")
    assert a[1] <= min(b[0], c[0])                       # after their dependency
    assert max(b[0], c[0]) < min(b[1], c[1])             # at the same time
    assert d[0] >= c[1]
    assert set(yaml.safe_load((root / "dvc.lock").read_text())["stages"]) == set("abcd")


def test_a_stage_of_two_threads_takes_both_cores(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    stages = yaml.safe_load((root / "dvc.yaml").read_text())
    stages["stages"]["b"]["params"] = ["heavy.threads"]
    (root / "dvc.yaml").write_text(yaml.safe_dump(stages))
    monkeypatch.chdir(root)
    assert repro.plan().threads == {"a": 1, "b": 2, "c": 1, "d": 1}
    _run(root, 2, monkeypatch)
    b, c = _interval(root, "b.txt"), _interval(root, "c.txt")
    assert b[1] <= c[0] or c[1] <= b[0]                 # one after the other


def test_a_second_run_finds_every_stage_unchanged(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    _run(root, 2, monkeypatch)
    outcome = _run(root, 2, monkeypatch)
    assert outcome["ran"] == [] and sorted(outcome["unchanged"]) == ["a", "b", "c", "d"]


def test_force_reruns_unchanged_stages(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    _run(root, 2, monkeypatch)
    plan = repro.plan(["a*"], glob=True, force=True)
    outcome = repro.run(plan, 2, DVC, {"PATH": str(Path(DVC).parent)}, root / "logs")
    assert outcome["ran"] == ["a"]


def test_a_changed_input_reruns_its_stage_and_everything_after_it(tmp_path, monkeypatch):
    root = _diamond(tmp_path / "p")
    _run(root, 2, monkeypatch)
    (root / "dvc.yaml").write_text((root / "dvc.yaml").read_text().replace("sleep(2)",
                                                                           "sleep(2.5)", 1))
    outcome = _run(root, 2, monkeypatch)
    assert sorted(outcome["ran"]) == ["b"] and sorted(outcome["unchanged"]) == ["a", "c", "d"]
    (root / "input.txt").write_text("2\n")
    assert sorted(_run(root, 2, monkeypatch)["ran"]) == ["a", "b", "c", "d"]


def test_a_failed_stage_stops_its_dependents_and_names_its_log(tmp_path, monkeypatch):
    root = _project(tmp_path / "p", {"a": _stage("a.txt", ["input.txt"]),
                                     "b": _stage("fail.txt", ["a.txt"]),
                                     "c": _stage("c.txt", ["fail.txt"])})
    with pytest.raises(RuntimeError, match=r"stage b failed \(log .*b\.log\); 1 stages not"):
        _run(root, 2, monkeypatch)
    assert (root / "a.txt").is_file() and not (root / "c.txt").exists()
    assert "AssertionError" in (root / "logs" / "b.log").read_text()


def test_data_version_reads_dvc_lock_only_under_dvcs_lock(tmp_path, monkeypatch):
    root = _project(tmp_path / "p", {"a": _stage("a.txt", ["input.txt"])})
    subprocess.run([DVC, "repro", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    held = zc.lockfile.LockFile(str(root / ".dvc" / "tmp" / "lock"))
    threading.Timer(1.0, held.close).start()
    start = time.perf_counter()
    version = data_version([Path("a.txt")])
    assert time.perf_counter() - start >= 1.0
    recorded = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["a"]["outs"][0]["md5"]
    assert version == {"a.txt": recorded}
