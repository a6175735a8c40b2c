"""LibriTTS (and LibriTTS-R): rows for the utterances listed in each chapter's trans.tsv."""
from __future__ import annotations

from pathlib import Path

from voxflow.ingest.manifest import Ingested, LayoutError, add_audio, require_dir

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
           "test-clean", "test-other")
SAMPLE_RATE = 24000


def read_speakers(path: Path) -> dict[str, str]:
    """SPEAKERS.txt -> {reader id: sex}; ';' lines are comments."""
    sexes = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.startswith(";") or len(fields) < 3:
            continue
        sexes[fields[0]] = fields[1]
    return sexes


def prepare_libritts(root: Path) -> Ingested:
    root = require_dir(root, "a LibriTTS release folder")
    subsets = [s for s in SUBSETS if (root / s).is_dir()]
    if not (root / "SPEAKERS.txt").is_file() or not subsets:
        raise LayoutError(f"{root}: expected SPEAKERS.txt and subset folders such as "
                          f"{root / 'train-clean-100'}/<speaker>/<chapter>/")
    sexes = read_speakers(root / "SPEAKERS.txt")
    result, candidates = Ingested(), []
    for subset in subsets:
        for trans in sorted((root / subset).glob("*/*/*.trans.tsv")):
            speaker = trans.parent.parent.name
            for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
                fields = line.split("\t")
                if len(fields) != 3 or not fields[0] or not fields[2].strip():
                    result.reject(f"{trans}:{number}", "malformed trans.tsv line: expected "
                                  "utt_id<TAB>original<TAB>normalized")
                    continue
                wav = trans.parent / f"{fields[0]}.wav"
                if not wav.is_file():
                    result.reject(wav, "listed in trans.tsv but the wav file is missing")
                    continue
                candidates.append((wav, {"utt_id": fields[0], "corpus": "libritts",
                                         "split": subset, "speaker": speaker,
                                         "gender": sexes.get(speaker), "language": "en",
                                         "text": fields[2]}))
    add_audio(result, root, candidates, SAMPLE_RATE, "LibriTTS")
    return result
