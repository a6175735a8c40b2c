"""What one listener gets: the order of their pages and of each page's conditions, what a page
shows, the audio behind it, and the answer it accepts.

Order. A MUSHRA listener gets the training page, then every trial; an AB listener the trials of
the groups they chose (the AB export's groups are languages, which only native listeners rate)
and any trial without a group.
The trials come in a random order of the listener's own, and so do a MUSHRA page's conditions
(ITU-R BS.1534-3: the hidden reference and the anchors among the systems), both drawn from the
listener's seed. The seed is stored with the listener, so a resumed session sees the same orders.

Training (BS.1534-3 sec. 5.1, the training phase): the package's first trial with the interface
of a rated page, its conditions in the listener's order for the page "training"; its answer is
empty and only its being done is kept.

Conditions are named by letters (A, B, ...) in display order; the letters, not the systems, go
to the browser, and audio is fetched by (page, letter). AB positions are trials.csv's: the export
made half the trials of every (group, system pair) play system A first, so every listener, who
rates whole groups, hears both orders equally often.

A posted answer is checked whole before anything is stored (`AnswerError` says what is wrong):
a MUSHRA page needs {"ratings": {letter: integer 0-100}} with exactly one rating per condition,
an AB page {"choice": one of the package's choices}, the training page {}; no other field.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path

from voxflow.evaluation.mushra import REFERENCE
from voxflow.listen.package import MUSHRA, TRAINING, TestPackage, Trial

MAX_NAME_LENGTH = 100
CONSENT = ("I agree to take part in this listening test. The listener id I enter and my "
           "ratings are stored and analysed for research; I may stop at any time.")


class AnswerError(ValueError):
    """A posted answer or start form that this page or test does not accept."""


@dataclass(frozen=True)
class Listener:
    id: int
    uuid: str           # public: the session id of the results
    name: str           # what the listener typed on the start page
    seed: int
    groups: tuple[str, ...]


def page_ids(package: TestPackage, listener: Listener) -> list[str]:
    """The listener's pages in the order they take them."""
    # a trial without a group is everyone's
    trials = [t.id for t in package.trials.values() if not t.group or t.group in listener.groups]
    order = random.Random(f"{listener.seed}:pages").sample(trials, len(trials))
    return [TRAINING, *order] if package.kind == MUSHRA else order


def trial_of(package: TestPackage, page_id: str) -> Trial:
    """The trial a page plays (the training page plays the first trial)."""
    return package.trials[next(iter(package.trials)) if page_id == TRAINING else page_id]


def conditions(package: TestPackage, listener: Listener, page_id: str) -> dict[str, str]:
    """{key: stimulus} in display order: letters in the listener's order for a MUSHRA page,
    the positions "1", "2" for an AB page."""
    names = list(trial_of(package, page_id).stimuli)
    if package.kind != MUSHRA:
        return {name: name for name in names}
    order = random.Random(f"{listener.seed}:{page_id}").sample(names, len(names))
    return dict(zip(string.ascii_uppercase, order))


def audio_url(page_id: str, key: str) -> str:
    return f"/api/audio/{page_id}/{key}"


def page_view(package: TestPackage, listener: Listener, page_id: str) -> dict:
    """What the browser needs to show a page: no system name, no file name."""
    trial = trial_of(package, page_id)
    keys = list(conditions(package, listener, page_id))
    if package.kind == MUSHRA:
        return {"id": page_id, "kind": TRAINING if page_id == TRAINING else MUSHRA,
                "instructions": package.instructions,
                "reference": audio_url(page_id, REFERENCE),
                "conditions": [{"key": k, "audio": audio_url(page_id, k)} for k in keys]}
    return {"id": page_id, "kind": package.kind, "group": trial.group,
            "instructions": package.instructions,
            "samples": [{"key": k, "label": package.choices[k], "audio": audio_url(page_id, k)}
                        for k in keys],
            "choices": [{"value": k, "label": label} for k, label in package.choices.items()]}


def audio_file(package: TestPackage, listener: Listener, page_id: str, key: str) -> Path:
    """The file behind a page's audio key; KeyError for a key the page does not have."""
    trial = trial_of(package, page_id)
    if package.kind == MUSHRA and key == REFERENCE:
        return trial.reference
    return trial.stimuli[conditions(package, listener, page_id)[key]]


def parse_answer(package: TestPackage, listener: Listener, page_id: str,
                 body: object) -> dict[str, str]:
    """The answers to store for a posted page, {stimulus: score} (MUSHRA), {"choice": value}
    (AB) or {} (training), after checking the whole post; AnswerError otherwise."""
    if page_id == TRAINING:
        _check_fields(body, ())
        return {}
    if package.kind == MUSHRA:
        _check_fields(body, ("ratings",))
        return _ratings(body["ratings"], conditions(package, listener, page_id))
    _check_fields(body, ("choice",))
    choice = body["choice"]
    if not isinstance(choice, str) or choice not in package.choices:
        raise AnswerError(f"choice {choice!r} is not one of {', '.join(package.choices)}")
    return {"choice": choice}


def parse_start(package: TestPackage, body: object) -> tuple[str, tuple[str, ...]]:
    """(listener name, groups) of a posted start form: {"name": ..., "consent": true} and, for
    an AB test with groups, "groups" (default: all); AnswerError otherwise."""
    groups = package.groups
    _check_fields(body, ("name", "consent"), optional=("groups",) if groups else ())
    # whitespace runs (newlines included) become one space: the name goes into logs and CSVs
    name = " ".join(body["name"].split()) if isinstance(body["name"], str) else ""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise AnswerError(f"name: a listener id of 1 to {MAX_NAME_LENGTH} characters is needed")
    if body["consent"] is not True:
        raise AnswerError("consent: the test starts only with the listener's consent (true)")
    chosen = body.get("groups", groups)
    if not isinstance(chosen, list) or not all(isinstance(g, str) for g in chosen) \
            or not set(chosen) <= set(groups) or (groups and not chosen):
        raise AnswerError(f"groups: a non-empty list of {', '.join(groups)}")
    return name, tuple(g for g in groups if g in chosen)


def _check_fields(body: object, required: tuple[str, ...], optional: tuple[str, ...] = ()):
    if not isinstance(body, dict):
        raise AnswerError("the body must be a JSON object")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise AnswerError(f"unknown field(s) {', '.join(unknown)}; expected "
                          f"{', '.join((*required, *optional)) or 'none'}")
    missing = [f for f in required if f not in body]
    if missing:
        raise AnswerError(f"missing field(s) {', '.join(missing)}")


def _ratings(ratings: object, keys: dict[str, str]) -> dict[str, str]:
    """{stimulus: score} of a MUSHRA page's ratings, one integer 0-100 per condition key."""
    if not isinstance(ratings, dict):
        raise AnswerError("ratings must be an object {condition: score}")
    unknown = sorted(set(ratings) - set(keys))
    if unknown:
        raise AnswerError(f"ratings: no condition {', '.join(unknown)} on this page "
                          f"(conditions {', '.join(keys)})")
    missing = [k for k in keys if k not in ratings]
    if missing:
        raise AnswerError(f"ratings: no rating for condition(s) {', '.join(missing)}; rate "
                          "every condition")
    for key, score in ratings.items():
        # bool is an int in Python; JSON's true is not a score
        if type(score) is not int or not 0 <= score <= 100:
            raise AnswerError(f"ratings: condition {key}: {score!r} is not an integer from 0 "
                              "to 100")
    return {keys[k]: str(ratings[k]) for k in keys}
