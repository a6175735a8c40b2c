"""IEMOCAP full release: one row per labelled sentence, sessions as splits."""
from __future__ import annotations

import re
from pathlib import Path

from voxflow.ingest.manifest import Ingested, LayoutError, add_audio, require_dir

SAMPLE_RATE = 16000
FOUR_CLASS = {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}
_TURN = re.compile(r"^\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\t(?P<utt>Ses\d\d[FM]_\S+_[FM]\d+)\t"
                   r"(?P<emotion>\w+)\t\[(?P<v>[\d.]+), (?P<a>[\d.]+), (?P<d>[\d.]+)\]\s*$")
_TRANSCRIPT = re.compile(r"^(?P<utt>Ses\d\d[FM]_\S+_[FM]\d+) \[[\d.]+-[\d.]+\]: (?P<text>.*)$")


def prepare_iemocap(root: Path, four_class: bool = False) -> Ingested:
    """With `four_class`, keep neu, hap+exc (as hap), sad and ang and drop the other codes."""
    root = require_dir(root, "an IEMOCAP_full_release folder")
    sessions = sorted(p for p in root.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        raise LayoutError(f"{root}: expected Session1..Session5/ with dialog/EmoEvaluation/ "
                          "and sentences/wav/")
    result, candidates = Ingested(), []
    for session in sessions:
        texts = _transcripts(session, result)
        labelled = set()
        for evaluation in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            dialog = evaluation.stem
            for number, line in enumerate(evaluation.read_text(encoding="utf-8").splitlines(), 1):
                if not line.startswith("["):
                    continue                # header, evaluator lines and blank lines
                m = _TURN.match(line)
                if not m:
                    result.reject(f"{evaluation}:{number}", "malformed EmoEvaluation turn line")
                    continue
                utt = m["utt"]
                labelled.add(utt)
                wav = session / "sentences" / "wav" / dialog / f"{utt}.wav"
                if not wav.is_file():
                    result.reject(wav, "labelled in EmoEvaluation but the wav file is missing")
                elif utt not in texts:
                    result.reject(wav, "no transcript in dialog/transcriptions")
                elif not four_class or m["emotion"] in FOUR_CLASS:
                    letter = utt.rsplit("_", 1)[1][0]
                    candidates.append((wav, {
                        "utt_id": utt, "corpus": "iemocap", "split": session.name,
                        "speaker": f"{utt[:5]}{letter}", "gender": letter, "language": "en",
                        "text": texts[utt],
                        "emotion": FOUR_CLASS[m["emotion"]] if four_class else m["emotion"],
                        "valence": float(m["v"]), "arousal": float(m["a"]),
                        "dominance": float(m["d"])}))
        for wav in sorted((session / "sentences" / "wav").glob("*/*.wav")):
            if wav.stem not in labelled:
                result.reject(wav, "no emotion label in dialog/EmoEvaluation")
    add_audio(result, root, candidates, SAMPLE_RATE, "IEMOCAP")
    return result


def _transcripts(session: Path, result: Ingested) -> dict[str, str]:
    texts = {}
    for path in sorted((session / "dialog" / "transcriptions").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _TRANSCRIPT.match(line)
            if m:
                texts[m["utt"]] = m["text"]
    return texts
