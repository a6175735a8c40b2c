"""Praat TextGrids with interval tiers, as Montreal Forced Aligner writes them.

MFA's alignments have a "words" and a "phones" tier; each tier's intervals tile the file from
xmin to xmax without gaps, and silences are intervals with an empty label. `write_textgrid`
writes Praat's long text format; `read_textgrid` reads it back (and, because it reads Praat's
token stream rather than fixed lines, also the short text format), whatever the indentation,
line endings or UTF-8/UTF-16 encoding.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from voxflow.synth.engine import Interval

# boundaries closer than this are one boundary (float rounding in the aligner's sums)
TOLERANCE_S = 1e-6

# quoted strings (with "" as an escaped quote), the <exists> flag, and numbers; bracketed
# indices such as `item [1]:` are matched so that they can be skipped
_TOKEN = re.compile(r'"(?:[^"]|"")*"|<exists>|<absent>|\[\d+\]|[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?')


@dataclass(frozen=True)
class TextGrid:
    xmin: float
    xmax: float
    tiers: dict[str, tuple[Interval, ...]]      # tier name -> intervals, in file order


def tile(intervals: Iterable[Interval], xmin: float, xmax: float,
         silences: Iterable[str] = ()) -> tuple[Interval, ...]:
    """Intervals covering xmin..xmax without gaps, as in an MFA tier.

    Gaps become empty-label intervals, labels in `silences` become empty, and boundaries that
    differ by less than TOLERANCE_S are snapped together. Overlaps raise ValueError.
    """
    silences = set(silences)
    tiled: list[Interval] = []
    cursor = xmin
    for interval in sorted(intervals, key=lambda i: i.start):
        if interval.start < cursor - TOLERANCE_S or interval.end <= interval.start:
            raise ValueError(f"interval {interval} overlaps the previous one or is empty")
        if interval.start > cursor + TOLERANCE_S:
            tiled.append(Interval(cursor, interval.start, ""))
            cursor = interval.start
        label = "" if interval.label in silences else interval.label
        tiled.append(Interval(cursor, interval.end, label))
        cursor = interval.end
    if cursor > xmax + TOLERANCE_S:
        raise ValueError(f"intervals end at {cursor}, after xmax {xmax}")
    if cursor < xmax - TOLERANCE_S:
        tiled.append(Interval(cursor, xmax, ""))
    elif tiled:
        tiled[-1] = Interval(tiled[-1].start, xmax, tiled[-1].label)
    return tuple(tiled)


def write_textgrid(path: Path, tiers: dict[str, Sequence[Interval]], xmin: float,
                   xmax: float) -> None:
    """Write interval tiers in Praat's long text format; each tier must tile xmin..xmax."""
    for name, intervals in tiers.items():
        _check_tiling(name, intervals, xmin, xmax)
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             f"xmin = {_number(xmin)} ", f"xmax = {_number(xmax)} ", "tiers? <exists> ",
             f"size = {len(tiers)} ", "item []: "]
    for k, (name, intervals) in enumerate(tiers.items(), 1):
        lines += [f"    item [{k}]:", '        class = "IntervalTier" ',
                  f"        name = {_string(name)} ", f"        xmin = {_number(xmin)} ",
                  f"        xmax = {_number(xmax)} ",
                  f"        intervals: size = {len(intervals)} "]
        for j, interval in enumerate(intervals, 1):
            lines += [f"        intervals [{j}]:",
                      f"            xmin = {_number(interval.start)} ",
                      f"            xmax = {_number(interval.end)} ",
                      f"            text = {_string(interval.label)} "]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def read_textgrid(path: Path) -> TextGrid:
    """Read a TextGrid of interval tiers; ValueError if the file is not one."""
    tokens = [t for t in _TOKEN.findall(_decode(Path(path).read_bytes()))
              if not t.startswith("[")]
    position = 0

    def take(kind: str):
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"{path}: TextGrid ends early, expected {kind}")
        token = tokens[position]
        position += 1
        if kind == "string":
            if not token.startswith('"'):
                raise ValueError(f"{path}: expected a quoted string, found {token}")
            return token[1:-1].replace('""', '"')
        if kind == "flag":
            return token
        try:
            return float(token) if kind == "number" else int(token)
        except ValueError:
            raise ValueError(f"{path}: expected a {kind}, found {token}") from None

    if (take("string"), take("string")) != ("ooTextFile", "TextGrid"):
        raise ValueError(f"{path}: not a Praat TextGrid text file")
    xmin, xmax = take("number"), take("number")
    if take("flag") != "<exists>":
        return TextGrid(xmin, xmax, {})
    tiers = {}
    for _ in range(take("integer")):
        tier_class, name = take("string"), take("string")
        if tier_class != "IntervalTier":
            raise ValueError(f"{path}: tier {name!r} is a {tier_class}, only interval tiers "
                             "are supported")
        take("number"), take("number")          # the tier's xmin and xmax repeat the file's
        tiers[name] = tuple(Interval(take("number"), take("number"), take("string"))
                            for _ in range(take("integer")))
    return TextGrid(xmin, xmax, tiers)


def _check_tiling(name: str, intervals: Sequence[Interval], xmin: float, xmax: float) -> None:
    cursor = xmin
    for interval in intervals:
        if interval.start != cursor or interval.end <= interval.start:
            raise ValueError(f"tier {name!r}: {interval} does not start where the previous "
                             f"interval ends ({cursor}) or is empty; use tile() first")
        cursor = interval.end
    if cursor != xmax:
        raise ValueError(f"tier {name!r} ends at {cursor}, not at xmax {xmax}")


def _number(value: float) -> str:
    """Shortest text that reads back as the same float, so times survive a round trip."""
    return repr(float(value)) if value != int(value) else str(int(value))


def _string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _decode(data: bytes) -> str:
    """Praat writes UTF-16 (with a byte-order mark) when a label is not ASCII; MFA UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")
