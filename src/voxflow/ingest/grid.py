"""GRID audio-visual corpus, in the Zenodo layout or the original site's layout.

Zenodo:   audio_25k/s1/<id>.wav   alignments/s1/<id>.align   s1/<id>.mpg
Original: s1/audio/<id>.wav       s1/align/<id>.align        s1/video/mpg_vcd/<id>.mpg or s1/<id>.mpg

`.align` times are in 1/25000 s; rows carry them in seconds. GRID has no splits, so speakers are
assigned to train/dev/test deterministically from (seed, fractions).
"""
from __future__ import annotations

from pathlib import Path

from voxflow.ingest.manifest import (Ingested, LayoutError, add_audio, require_dir,
                                    split_by_fractions)

ALIGN_UNITS_PER_SECOND = 25000
SILENCES = {"sil", "sp"}


def parse_align(path: Path) -> list[dict]:
    """Word intervals in seconds (silences dropped); ValueError on a malformed line."""
    words = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise ValueError(f"line {number}: expected '<start> <end> <word>' in 1/25000 s")
        start, end = int(fields[0]), int(fields[1])
        if end < start:
            raise ValueError(f"line {number}: end before start")
        if fields[2] not in SILENCES:
            words.append({"start": start / ALIGN_UNITS_PER_SECOND,
                          "end": end / ALIGN_UNITS_PER_SECOND, "label": fields[2]})
    if not words:
        raise ValueError("no words")
    return words


def _layout(root: Path):
    """(audio, align, videos) path functions of speaker and id, for the layout found."""
    if (root / "audio_25k").is_dir() and (root / "alignments").is_dir():
        return (sorted(p.name for p in (root / "audio_25k").glob("s*") if p.is_dir()),
                lambda s: sorted((root / "audio_25k" / s).glob("*.wav")),
                lambda s, i: root / "alignments" / s / f"{i}.align",
                lambda s, i: [root / s / f"{i}.mpg"])
    speakers = sorted(p.name for p in root.glob("s*") if (p / "audio").is_dir())
    if speakers:
        return (speakers,
                lambda s: sorted((root / s / "audio").glob("*.wav")),
                lambda s, i: root / s / "align" / f"{i}.align",
                lambda s, i: [root / s / "video" / "mpg_vcd" / f"{i}.mpg", root / s / f"{i}.mpg"])
    raise LayoutError(f"{root}: expected the Zenodo layout (audio_25k/s1/*.wav, alignments/s1/"
                      "*.align, s1/*.mpg) or the original one (s1/audio/*.wav, s1/align/*.align)")


def prepare_grid(root: Path, split_fractions: dict[str, float] | None = None, seed: int = 0,
                 sample_rate: int = 25000) -> Ingested:
    root = require_dir(root, "a GRID corpus folder")
    speakers, audio_files, align_file, video_files = _layout(root)
    fractions = split_fractions or {"train": 0.8, "dev": 0.1, "test": 0.1}
    splits = split_by_fractions(speakers, fractions, [seed])
    result, candidates = Ingested(), []
    for speaker in speakers:
        for wav in audio_files(speaker):
            align = align_file(speaker, wav.stem)
            if not align.is_file():
                result.reject(wav, f"missing alignment {align.relative_to(root)}")
                continue
            try:
                words = parse_align(align)
            except ValueError as err:
                result.reject(align, f"malformed alignment: {err}")
                continue
            video = next((v for v in video_files(speaker, wav.stem) if v.is_file()), None)
            candidates.append((wav, {
                "utt_id": f"{speaker}_{wav.stem}", "corpus": "grid", "split": splits[speaker],
                "speaker": speaker, "language": "en",
                "text": " ".join(w["label"] for w in words), "words": words,
                "video_path": video.relative_to(root).as_posix() if video else None}))
    add_audio(result, root, candidates, sample_rate, "GRID")
    return result
