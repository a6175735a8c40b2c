"""The tiny ASVspoof 2019 LA: layout of corpora.md, protocol formats, ASV scores, determinism,
and a spoofing task that an LFCC-GMM countermeasure learns but does not solve."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from sklearn.mixture import GaussianMixture

from voxflow.evaluation.eer import compute_eer
from voxflow.features import lfcc
from voxflow.synth.corpora import build_corpus
from voxflow.synth.corpora.asvspoof import SIZES
from voxflow.synth.engine import plan_utterance
from voxflow.synth.languages import ENGLISH
from voxflow.synth.spoofing import ATTACKS, EVAL_ATTACKS, TRAIN_DEV_ATTACKS, spoof
from voxflow.synth.voice import sample_speaker

TINY = SIZES["tiny"]
SPLITS = {"train": ("T", "train.trn"), "dev": ("D", "dev.trl"), "eval": ("E", "eval.trl")}
CM_LINE = re.compile(r"^(LA_00\d\d) (LA_[TDE]_\d{7}) - (-|A\d\d) (bonafide|spoof)$")
ENROLMENT_LINE = re.compile(r"^(LA_00\d\d) (LA_[DE]_\d{7}(?:,LA_[DE]_\d{7})*)$")
TRIAL_LINE = re.compile(r"^(LA_00\d\d) (LA_[DE]_\d{7}) (bonafide|A\d\d) (target|nontarget|spoof)$")
SCORE_LINE = re.compile(r"^(bonafide|A\d\d) (target|nontarget|spoof) (-?\d+\.\d+)$")


def _cm_protocol(root, split):
    """[(speaker, utterance, system, key)] of a split's CM protocol, checking every line."""
    path = root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{SPLITS[split][1]}.txt"
    rows = []
    for line in path.read_text().splitlines():
        m = CM_LINE.match(line)
        assert m, f"{path.name}: malformed line {line!r}"
        assert m[2].startswith(f"LA_{SPLITS[split][0]}_")
        assert (m[3] == "-") == (m[4] == "bonafide"), line
        rows.append(m.groups())
    return rows


def _enrolment(root, split):
    """{gender: {speaker: [utterances]}} from the ASV enrolment lists."""
    lists = {}
    for gender in ("female", "male"):
        name = f"ASVspoof2019.LA.asv.{split}.{gender}.trn.txt"
        path = root / "ASVspoof2019_LA_asv_protocols" / name
        lists[gender] = {}
        for line in path.read_text().splitlines():
            m = ENROLMENT_LINE.match(line)
            assert m, f"{path.name}: malformed line {line!r}"
            lists[gender][m[1]] = m[2].split(",")
    return lists


def test_layout_and_cm_protocols(tiny_corpus):
    root = tiny_corpus("asvspoof")
    assert sorted(p.name for p in root.iterdir()) == [
        "ASVspoof2019_LA_asv_protocols", "ASVspoof2019_LA_asv_scores",
        "ASVspoof2019_LA_cm_protocols", "ASVspoof2019_LA_dev", "ASVspoof2019_LA_eval",
        "ASVspoof2019_LA_train"]
    speakers, all_ids = {}, []
    for split, (letter, _) in SPLITS.items():
        rows = _cm_protocol(root, split)
        flacs = {p.stem for p in (root / f"ASVspoof2019_LA_{split}" / "flac").iterdir()}
        assert all(re.fullmatch(rf"LA_{letter}_\d{{7}}", name) for name in flacs)
        listed = {utt for _, utt, _, _ in rows}
        assert len(listed) == len(rows)
        # the flac folder holds the protocol's files plus, in dev and eval, the ASV enrolment
        enrolled = set() if split == "train" else {
            u for group in _enrolment(root, split).values() for ids in group.values() for u in ids}
        assert not listed & enrolled
        assert flacs == listed | enrolled
        systems = Counter(system for _, _, system, _ in rows)
        attacks = TRAIN_DEV_ATTACKS if split != "eval" else EVAL_ATTACKS
        assert systems == {"-": TINY.bonafide[split],
                           **{a: TINY.spoofs_per_attack[split] for a in attacks}}
        speakers[split] = {speaker for speaker, _, _, _ in rows}
        all_ids += [*listed, *enrolled]
    assert len(all_ids) == len(set(all_ids))
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["eval"]
    assert not speakers["dev"] & speakers["eval"]


def test_audio_is_valid(tiny_corpus):
    flacs = sorted(tiny_corpus("asvspoof").glob("ASVspoof2019_LA_*/flac/*.flac"))
    assert len(flacs) > 400
    for flac in flacs:
        info = sf.info(flac)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), flac
        assert 1.3 < info.duration < 3.8, flac
        audio, _ = sf.read(flac, dtype="int16")
        assert 0 < np.abs(audio.astype(np.int32)).max() < 32767, f"{flac}: silent or clipped"


def test_asv_protocols_and_scores(tiny_corpus):
    root = tiny_corpus("asvspoof")
    for split in ("dev", "eval"):
        enrolment = _enrolment(root, split)
        assert enrolment["female"] and enrolment["male"]
        assert not enrolment["female"].keys() & enrolment["male"].keys()
        cm = {utt: (speaker, system) for speaker, utt, system, _ in _cm_protocol(root, split)}
        assert {speaker for speaker, _ in cm.values()} == {*enrolment["female"], *enrolment["male"]}

        protocols = root / "ASVspoof2019_LA_asv_protocols"
        trials = {}
        for name in ("male", "female", "gi"):
            lines = (protocols / f"ASVspoof2019.LA.asv.{split}.{name}.trl.txt").read_text()
            trials[name] = lines.splitlines()
        assert trials["gi"] == trials["male"] + trials["female"]
        parsed = []
        for line in trials["gi"]:
            m = TRIAL_LINE.match(line)
            assert m, f"malformed trial {line!r}"
            claimed, utt, source, key = m.groups()
            owner, system = cm[utt]
            assert source == ("bonafide" if system == "-" else system)
            assert (key == "spoof") == (source != "bonafide")
            assert (claimed == owner) == (key != "nontarget")
            parsed.append((source, key))
        assert {line.split()[1] for line in trials["gi"]} == set(cm)

        name = f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
        path = root / "ASVspoof2019_LA_asv_scores" / name
        scores = {"target": [], "nontarget": [], "spoof": []}
        lines = path.read_text().splitlines()
        assert len(lines) == len(parsed)
        for line, (source, key) in zip(lines, parsed):
            m = SCORE_LINE.match(line)
            assert m and (m[1], m[2]) == (source, key), line
            scores[key].append(float(m[3]))
        # a working ASV system: targets above nontargets; spoofs of the target speaker fool it
        assert np.mean(scores["target"]) > np.mean(scores["nontarget"]) + 0.15
        assert np.mean(scores["spoof"]) > np.mean(scores["nontarget"])
        assert compute_eer(scores["target"], scores["nontarget"])[0] < 0.3


def _utterance_scores(root, split, bonafide_model, spoof_model):
    """Mean frame log-likelihood ratio per utterance of a split, and its bona fide labels."""
    rows = _cm_protocol(root, split)
    scores = []
    for _, utt, _, _ in rows:
        audio, sample_rate = sf.read(root / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt}.flac")
        features = lfcc(audio, sample_rate)
        scores.append(np.mean(bonafide_model.score_samples(features)
                              - spoof_model.score_samples(features)))
    return np.array(scores), np.array([key == "bonafide" for _, _, _, key in rows])


def test_lfcc_gmm_countermeasure_learns_but_does_not_solve_the_task(tiny_corpus):
    """The ASVspoof 2019 baseline: GMMs of bona fide and spoof LFCC frames of train. Dev
    (seen attacks) must be learnable but not trivial; eval (mostly unseen) must be harder."""
    root = tiny_corpus("asvspoof")
    frames = {"bonafide": [], "spoof": []}
    for _, utt, _, key in _cm_protocol(root, "train"):
        audio, sample_rate = sf.read(root / "ASVspoof2019_LA_train" / "flac" / f"{utt}.flac")
        frames[key].append(lfcc(audio, sample_rate))
    models = {key: GaussianMixture(16, covariance_type="diag", max_iter=100, random_state=0)
              .fit(np.vstack(frames[key])) for key in frames}
    eer = {}
    for split in ("dev", "eval"):
        scores, bonafide = _utterance_scores(root, split, models["bonafide"], models["spoof"])
        eer[split] = compute_eer(scores[bonafide], scores[~bonafide])[0]
    assert 0.01 < eer["dev"] < 0.35, eer
    assert eer["eval"] > eer["dev"] + 0.03, eer
    assert eer["eval"] < 0.5, eer


def test_same_seed_gives_identical_bytes(tiny_corpus, tmp_path):
    first = tiny_corpus("asvspoof")
    second = build_corpus("asvspoof", tmp_path, size="tiny", seed=0, workers=2)
    texts = sorted(p.relative_to(first) for p in first.rglob("*.txt"))
    assert len(texts) == 15
    flacs = sorted(p.relative_to(first) for p in first.rglob("*.flac"))[::50]
    for relative in texts + flacs:
        assert (second / relative).read_bytes() == (first / relative).read_bytes(), relative


def test_every_attack_system_gives_speech_of_the_planned_length():
    rng = np.random.default_rng(0)
    speaker = sample_speaker(rng, "LA_0001", "F")
    plan = plan_utterance(ENGLISH.sample_sentence(rng, 5), speaker, ENGLISH, rng)
    assert ATTACKS["A16"] is ATTACKS["A04"] and ATTACKS["A19"] is ATTACKS["A06"]
    assert len(set(ATTACKS.values())) == 17
    for attack in ATTACKS:
        audio = spoof(attack, plan, np.random.default_rng(1))
        assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0, attack
        assert abs(len(audio) / 16000 - plan.duration) < 0.1, attack


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        build_corpus("asvspoof", tmp_path, size="huge")
    with pytest.raises(ValueError, match="seed"):
        build_corpus("asvspoof", tmp_path, seed=-1)
    rng = np.random.default_rng(0)
    plan = plan_utterance(ENGLISH.sample_sentence(rng, 3), sample_speaker(rng, "x", "M"),
                          ENGLISH, rng)
    with pytest.raises(ValueError, match="unknown attack"):
        spoof("A20", plan, rng)
