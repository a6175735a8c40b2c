"""ASVspoof 2019 logical access: one row per CM protocol line, the release's own splits."""
from __future__ import annotations

import re
from pathlib import Path

from voxflow.ingest.manifest import Ingested, LayoutError, add_audio, require_dir

SAMPLE_RATE = 16000
PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
             "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}
_ATTACK = re.compile(r"^A\d\d$")


def _genders(root: Path) -> dict[str, str]:
    """Speaker -> F/M from the ASV enrolment lists (ASVspoof2019.LA.asv.*.{female,male}.trn.txt)."""
    genders = {}
    for path in (root / "ASVspoof2019_LA_asv_protocols").glob("*.trn.txt"):
        sex = {"female": "F", "male": "M"}.get(path.name.split(".")[-3])
        for line in path.read_text().splitlines():
            if line.split() and sex:
                genders[line.split()[0]] = sex
    return genders


def prepare_asvspoof(root: Path) -> Ingested:
    root = require_dir(root, "the LA folder of ASVspoof 2019")
    protocol_dir = root / "ASVspoof2019_LA_cm_protocols"
    present = {s: protocol_dir / f for s, f in PROTOCOLS.items() if (protocol_dir / f).is_file()}
    if not present:
        raise LayoutError(f"{root}: expected CM protocols such as "
                          f"{protocol_dir / PROTOCOLS['train']} and ASVspoof2019_LA_<split>/flac/")
    genders = _genders(root)
    result, candidates = Ingested(), []
    for split, protocol in present.items():
        for number, line in enumerate(protocol.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if (len(fields) != 5 or fields[4] not in ("bonafide", "spoof")
                    or (fields[4] == "spoof") != bool(_ATTACK.match(fields[3]))):
                result.reject(f"{protocol}:{number}", "malformed CM protocol line: expected "
                              "'SPEAKER UTTERANCE - SYSTEM KEY' with SYSTEM '-' for bonafide")
                continue
            speaker, utt, _, system, key = fields
            flac = root / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt}.flac"
            if not flac.is_file():
                result.reject(flac, f"listed in {protocol.name} but the flac file is missing")
                continue
            candidates.append((flac, {"utt_id": utt, "corpus": "asvspoof", "split": split,
                                      "speaker": speaker, "gender": genders.get(speaker),
                                      "language": "en", "key": key, "attack": system}))
    add_audio(result, root, candidates, SAMPLE_RATE, "ASVspoof 2019 LA")
    return result
