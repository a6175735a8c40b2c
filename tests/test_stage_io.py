"""params.yaml sections parsed into typed dataclasses: conversions, and errors naming the key."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from voxflow.stage_io import as_params, parse, write_metrics


@dataclass(frozen=True)
class Inner:
    rate: float
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    steps: int
    inner: Inner
    systems: dict[str, Inner]
    clip: float | None = None


def section(**changes) -> dict:
    data = {"steps": 3, "inner": {"rate": 1, "names": ["a"]}, "systems": {"x": {"rate": 0.5}}}
    return {**data, **changes}


def test_nested_mappings_become_dataclasses_and_ints_floats():
    parsed = parse(Section, section(), "params.yaml s")
    assert parsed == Section(3, Inner(1.0, ("a",)), {"x": Inner(0.5)})
    assert isinstance(parsed.inner.rate, float)


def test_as_params_gives_the_mapping_back():
    assert as_params(parse(Section, section(), "s")) == {
        "steps": 3, "inner": {"rate": 1.0, "names": ["a"]}, "systems": {"x": {"rate": 0.5,
                                                                             "names": []}},
        "clip": None}


@pytest.mark.parametrize("data, message", [
    (section(steps=2.5), r"params.yaml s.steps: expected an integer, got 2.5"),
    (section(steps=True), r"s.steps: expected an integer"),
    (section(inner={"rate": "fast"}), r"s.inner.rate: expected a number, got 'fast'"),
    (section(systems={"x": {}}), r"s.systems.x: missing key\(s\) rate"),
    (section(typo=1), r"params.yaml s: unknown key\(s\) typo"),
    ({"steps": 1, "inner": {"rate": 1}}, r"missing key\(s\) systems"),
    (section(inner=[1]), r"s.inner: expected a mapping")])
def test_bad_values_are_errors_naming_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        parse(Section, data, "params.yaml s")


def test_metrics_are_written_atomically_as_sorted_json(tmp_path):
    write_metrics(tmp_path / "m" / "x.json", {"b": 1, "a": 2.5})
    assert (tmp_path / "m" / "x.json").read_text() == '{\n  "a": 2.5,\n  "b": 1\n}\n'
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["x.json"]
