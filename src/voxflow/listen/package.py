"""A listening-test package as exported by voxflow, read into one `TestPackage`.

Two layouts, told apart by what the folder holds:
- MUSHRA (`voxflow.evaluation.mushra.export_test`): `configs/<test_id>.yaml` (webMUSHRA's
  configuration: a generic welcome page, mushra pages, possibly inside ["random", ...] blocks,
  and a finish page), the WAVs it names relative to the folder, and `<test_id>_items.csv`.
  The conditions of a trial are the hidden reference (`reference`, the reference's own file, as
  webMUSHRA adds it) and the page's stimuli (the anchors `anchor35`, `anchor70` and the systems).
- AB (`voxflow.evaluation.preference.export_ab_test`): `config.json` (test id, question,
  choices, the trials file), `trials.csv` (trial_id, group, stimulus_1, stimulus_2) and the WAVs.
  The hidden key lies beside the folder, not in it.

Every file a package names must lie inside its folder (no absolute path, no `..`) and exist:
what the server may send is exactly the files listed here. Paths are not resolved, so a file that
DVC links from its cache keeps its place in the package.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from voxflow.evaluation.mushra import MAX_CONDITIONS, REFERENCE
from voxflow.evaluation.preference import CHOICES
from voxflow.evaluation.report import read_table
from voxflow.tracking import content_md5

MUSHRA, AB = "mushra", "ab"
TRAINING = "training"           # the id of a MUSHRA listener's training page
# trial ids become page ids in URLs
_TRIAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
AB_TRIALS_COLUMNS = ("trial_id", "group", "stimulus_1", "stimulus_2")
WELCOME = ("Welcome to this listening test. Please use headphones in a quiet room and set a "
           "comfortable volume before you start; keep it unchanged.")
FINISH = "Thank you for taking part!"


@dataclass(frozen=True)
class Trial:
    """One rated page: its stimuli by name (MUSHRA: the conditions, hidden reference included;
    AB: "1" and "2", the positions), the reference button's file (MUSHRA) and the group (AB)."""
    id: str
    stimuli: dict[str, Path]
    reference: Path | None = None
    group: str = ""


@dataclass(frozen=True)
class TestPackage:
    kind: str                       # MUSHRA or AB
    root: Path
    test_id: str
    title: str
    welcome: str
    instructions: str               # MUSHRA: the pages' text; AB: the question
    finish: str
    trials: dict[str, Trial]        # in the package's order
    choices: dict[str, str] = field(default_factory=dict)   # AB: answer -> label
    config_files: tuple[Path, ...] = ()

    @property
    def groups(self) -> list[str]:
        """The AB groups (e.g. languages), sorted; empty for MUSHRA."""
        return sorted({t.group for t in self.trials.values() if t.group})

    def fingerprint(self) -> str:
        """md5 of the configuration files and every audio file, with their names: ratings are
        only meaningful for the audio that was rated."""
        files = set(self.config_files)
        for trial in self.trials.values():
            files.update(trial.stimuli.values())
            if trial.reference is not None:
                files.add(trial.reference)
        digest = hashlib.md5()
        for path in sorted(files):
            digest.update(f"{path.relative_to(self.root).as_posix()}\0{content_md5(path)}\n"
                          .encode())
        return digest.hexdigest()


def read_package(root: Path) -> TestPackage:
    """The package in folder `root` (see the module docstring); ValueError naming the file and
    the problem when it is not one."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (a listening-test package)")
    if (root / "config.json").is_file():
        return _read_ab(root)
    if (root / "configs").is_dir():
        return _read_mushra(root)
    raise ValueError(f"{root}: neither an AB package (config.json) nor a MUSHRA package "
                     "(configs/<test_id>.yaml); write one with `voxflow eval mushra-export` or "
                     "`voxflow eval preference-export`")


def _package_file(root: Path, name: object, where: str) -> Path:
    """`root / name` after checking that `name` is a relative path inside `root` to a file."""
    relative = PurePosixPath(str(name))
    if not str(name) or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{where}: {name!r} is not a path inside the package folder {root}")
    path = root / relative
    if not path.is_file():
        raise ValueError(f"{where}: {path}: file not found")
    return path


def _check_trial_id(trial_id: str, where: str) -> None:
    if not _TRIAL_ID.fullmatch(trial_id) or trial_id == TRAINING:
        raise ValueError(f"{where}: trial id {trial_id!r}: use letters, digits, '_', '-' and '.' "
                         f"(and not {TRAINING!r}, the training page's)")


def _read_mushra(root: Path) -> TestPackage:
    configs = sorted((root / "configs").glob("*.yaml"))
    if len(configs) != 1:
        raise ValueError(f"{root / 'configs'}: {len(configs)} test configurations "
                         f"({', '.join(p.name for p in configs) or 'no *.yaml'}); a package "
                         "holds exactly one")
    path = configs[0]
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not YAML ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("pages"), list):
        raise ValueError(f"{path}: not a webMUSHRA configuration (no list of pages)")
    pages = list(_flatten(config["pages"]))
    trials = {}
    for page in (p for p in pages if p.get("type") == "mushra"):
        trial = _mushra_trial(root, page, path)
        if trial.id in trials:
            raise ValueError(f"{path}: page id {trial.id!r} is used twice")
        trials[trial.id] = trial
    if not trials:
        raise ValueError(f"{path}: no mushra page")
    # the first page of each type gives its text
    texts = {p.get("type"): str(p.get("content", "")) for p in reversed(pages)}
    return TestPackage(
        kind=MUSHRA, root=root, test_id=str(config.get("testId") or path.stem),
        title=str(config.get("testname") or f"MUSHRA {path.stem}"),
        welcome=texts.get("generic") or WELCOME,
        instructions=texts["mushra"],
        finish=texts.get("finish") or FINISH, trials=trials, config_files=(path,))


def _flatten(pages: list) -> Iterator[dict]:
    """The page dictionaries of webMUSHRA's page list, in order, out of ["random", ...] blocks
    (the block's keyword is dropped: each listener gets a random order anyway)."""
    for page in pages:
        if isinstance(page, list):
            yield from _flatten(page)
        elif isinstance(page, dict):
            yield page


def _mushra_trial(root: Path, page: dict, path: Path) -> Trial:
    where = f"{path}: page {page.get('id')!r}"
    stimuli = page.get("stimuli")
    if not page.get("id") or not page.get("reference") or not isinstance(stimuli, dict) \
            or not stimuli:
        raise ValueError(f"{where}: a mushra page needs an id, a reference and stimuli")
    _check_trial_id(str(page["id"]), str(path))
    if REFERENCE in stimuli:
        raise ValueError(f"{where}: stimulus name {REFERENCE!r} is the hidden reference's")
    if len(stimuli) + 1 > MAX_CONDITIONS:
        raise ValueError(f"{where}: {len(stimuli) + 1} conditions with the hidden reference; "
                         f"at most {MAX_CONDITIONS}")
    reference = _package_file(root, page["reference"], f"{where}, reference")
    conditions = {REFERENCE: reference}
    for name, file in stimuli.items():
        conditions[str(name)] = _package_file(root, file, f"{where}, stimulus {name}")
    return Trial(id=str(page["id"]), stimuli=conditions, reference=reference)


def _read_ab(root: Path) -> TestPackage:
    path = root / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    missing = [k for k in ("test_id", "question", "choices", "trials")
               if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    if not isinstance(config["choices"], dict) or set(config["choices"]) != set(CHOICES):
        raise ValueError(f"{path}: choices must be exactly {', '.join(CHOICES)} (the answers "
                         "the AB analysis counts)")
    trials_csv = _package_file(root, config["trials"], f"{path}, trials")
    table = read_table(trials_csv, AB_TRIALS_COLUMNS, "AB trials")
    trials = {}
    for line, row in enumerate(table.itertuples(), start=2):
        where = f"{trials_csv}: line {line}"
        _check_trial_id(row.trial_id, where)
        if row.trial_id in trials:
            raise ValueError(f"{where}: trial id {row.trial_id!r} is used twice")
        trials[row.trial_id] = Trial(id=row.trial_id, group=row.group, stimuli={
            "1": _package_file(root, row.stimulus_1, where),
            "2": _package_file(root, row.stimulus_2, where)})
    if not trials:
        raise ValueError(f"{trials_csv}: no trial")
    return TestPackage(
        kind=AB, root=root, test_id=str(config["test_id"]),
        title=f"Listening test {config['test_id']}", welcome=WELCOME,
        instructions=str(config["question"]), finish=FINISH, trials=trials,
        choices={k: str(config["choices"][k]) for k in CHOICES},
        config_files=(path, trials_csv))
