"""The multilingual TTS layout (LJSpeech metadata + MFA TextGrids), see corpora.md.

Splits are per utterance within each speaker, deterministic from (seed, fractions): the MLMS paper's
acoustic model has speaker-dependent output layers and language codes, so every speaker and
language must be seen in training and is evaluated on held-out utterances (its table 1), which a
speaker-disjoint split would make impossible.
"""
from __future__ import annotations

import zlib
from pathlib import Path

from voxflow.ingest.manifest import (Ingested, LayoutError, add_audio, require_dir,
                                    split_by_fractions)
from voxflow.synth.textgrid import read_textgrid


def _labelled(intervals) -> list[dict]:
    return [{"start": i.start, "end": i.end, "label": i.label} for i in intervals if i.label]


def prepare_mlms(root: Path, split_fractions: dict[str, float] | None = None, seed: int = 0,
                 sample_rate: int = 22050) -> Ingested:
    root = require_dir(root, "a multilingual TTS corpus folder")
    table = root / "speakers.tsv"
    if not table.is_file():
        raise LayoutError(f"{root}: expected speakers.tsv (speaker<TAB>language<TAB>gender) and "
                          "<language>/<speaker>/metadata.csv, wavs/, alignments/")
    fractions = split_fractions or {"train": 0.9, "dev": 0.1}
    result, candidates = Ingested(), []
    for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if number == 1 and fields[0] == "speaker":
            continue
        if len(fields) != 3:
            result.reject(f"{table}:{number}", "malformed speakers.tsv line: expected "
                          "speaker<TAB>language<TAB>gender")
            continue
        speaker, language, gender = fields
        speaker_dir = root / language / speaker
        metadata = speaker_dir / "metadata.csv"
        if not metadata.is_file():
            result.reject(metadata, "speaker listed in speakers.tsv but metadata.csv is missing")
            continue
        rows = [(n, line.split("|")) for n, line in
                enumerate(metadata.read_text(encoding="utf-8").splitlines(), 1) if line]
        splits = split_by_fractions([f[0] for _, f in rows if len(f) == 3], fractions,
                                    [seed, zlib.crc32(speaker.encode())])
        for n, fields in rows:
            if len(fields) != 3 or not fields[0] or not fields[2].strip():
                result.reject(f"{metadata}:{n}", "malformed metadata.csv line: expected "
                              "id|text|normalized_text")
                continue
            utt, _, normalized = fields
            wav = speaker_dir / "wavs" / f"{utt}.wav"
            grid = speaker_dir / "alignments" / f"{utt}.TextGrid"
            if not wav.is_file():
                result.reject(wav, "listed in metadata.csv but the wav file is missing")
                continue
            try:
                tiers = read_textgrid(grid).tiers if grid.is_file() else None
            except (ValueError, UnicodeDecodeError) as err:
                result.reject(grid, f"malformed TextGrid: {err}")
                continue
            if tiers is None or not {"words", "phones"} <= tiers.keys():
                result.reject(wav, "missing alignment: needs a TextGrid with tiers 'words' "
                              "and 'phones'")
                continue
            candidates.append((wav, {"utt_id": utt, "corpus": "mlms", "split": splits[utt],
                                     "speaker": speaker, "gender": gender,
                                     "language": language, "text": normalized,
                                     "words": _labelled(tiers["words"]),
                                     "phones": _labelled(tiers["phones"])}))
    add_audio(result, root, candidates, sample_rate, "MLMS")
    return result
