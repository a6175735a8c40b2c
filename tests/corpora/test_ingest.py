"""Ingestion of the tiny corpora into manifests, and what happens to bad files."""
from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from voxflow.ingest import ingest
from voxflow.ingest.manifest import (SCHEMA, LayoutError, read_manifest, rejects_path,
                                    split_by_fractions)


def _ingest(corpus, root, tmp_path, **options):
    out = tmp_path / f"{corpus}.parquet"
    table = ingest(corpus, root, out, **options)
    assert pq.read_schema(out).remove_metadata() == SCHEMA.remove_metadata()
    return table.to_pylist(), pq.read_table(rejects_path(out)).to_pylist()


def test_libritts_rows_are_the_listed_utterances(tiny_corpus, tmp_path):
    root = tiny_corpus("libritts")
    rows, rejects = _ingest("libritts", root, tmp_path)
    listed = {line.split("\t")[0] for t in root.glob("*/*/*/*.trans.tsv")
              for line in t.read_text().splitlines()}
    assert {r["utt_id"] for r in rows} == listed and rejects == []
    assert {r["split"] for r in rows} == {"train-clean-100", "dev-clean", "test-clean"}
    row = rows[0]
    info = sf.info(root / row["audio_path"])
    assert (row["sample_rate"], row["num_samples"]) == (info.samplerate, info.frames)
    assert row["duration"] == pytest.approx(info.duration)
    assert row["gender"] in ("F", "M") and row["text"] and row["speaker"] in row["utt_id"]


def test_iemocap_speakers_sessions_and_four_classes(tiny_corpus, tmp_path):
    rows, rejects = _ingest("iemocap", tiny_corpus("iemocap"), tmp_path)
    assert rejects == [] and {r["split"] for r in rows} == {f"Session{i}" for i in range(1, 6)}
    for r in rows:
        assert r["speaker"] == r["utt_id"][:5] + r["utt_id"].rsplit("_", 1)[1][0]
        assert 1 <= r["valence"] <= 5 and r["text"]
    four, _ = _ingest("iemocap", tiny_corpus("iemocap"), tmp_path, four_class=True)
    assert {r["emotion"] for r in four} == {"neu", "hap", "sad", "ang"}
    kept = {r["utt_id"] for r in rows if r["emotion"] in ("neu", "hap", "exc", "sad", "ang")}
    assert {r["utt_id"] for r in four} == kept


def test_grid_times_in_seconds_and_speaker_disjoint_splits(tiny_corpus, tmp_path):
    root = tiny_corpus("grid")
    rows, rejects = _ingest("grid", root, tmp_path,
                            split_fractions={"train": 0.5, "dev": 0.25, "test": 0.25})
    assert rejects == [] and len(rows) == len(list(root.glob("audio_25k/*/*.wav")))
    for r in rows:
        assert r["duration"] == pytest.approx(3.0)
        assert 0 < r["words"][0]["start"] < r["words"][-1]["end"] < 3.0
        assert len(r["words"]) == 6 and r["text"] == " ".join(w["label"] for w in r["words"])
        assert (root / r["video_path"]).is_file()
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["speaker"])
    assert sum(len(s) for s in by_split.values()) == len(set.union(*by_split.values()))
    again, _ = _ingest("grid", root, tmp_path,
                       split_fractions={"train": 0.5, "dev": 0.25, "test": 0.25})
    assert [r["split"] for r in again] == [r["split"] for r in rows]


def test_grid_original_layout(tiny_corpus, tmp_path):
    zenodo = tiny_corpus("grid")
    original = tmp_path / "grid_original"
    for wav in zenodo.glob("audio_25k/*/*.wav"):
        speaker = wav.parent.name
        for src, dst in ((wav, original / speaker / "audio" / wav.name),
                         (zenodo / "alignments" / speaker / f"{wav.stem}.align",
                          original / speaker / "align" / f"{wav.stem}.align"),
                         (zenodo / speaker / f"{wav.stem}.mpg",
                          original / speaker / "video" / "mpg_vcd" / f"{wav.stem}.mpg")):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    rows, _ = _ingest("grid", zenodo, tmp_path)
    rows_original, _ = _ingest("grid", original, tmp_path)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("audio_path", "video_path")}
                        for r in rs]                                          # noqa: E731
    assert strip(rows_original) == strip(rows)


def test_asvspoof_rows_follow_the_cm_protocols(tiny_corpus, tmp_path):
    root = tiny_corpus("asvspoof")
    rows, rejects = _ingest("asvspoof", root, tmp_path)
    protocols = {line.split()[1]: line.split() for p in
                 root.glob("ASVspoof2019_LA_cm_protocols/*.txt") for line in p.read_text().splitlines()}
    assert rejects == [] and {r["utt_id"] for r in rows} == set(protocols)
    for r in rows:
        speaker, _, _, system, key = protocols[r["utt_id"]]
        assert (r["speaker"], r["attack"], r["key"]) == (speaker, system, key)
        # as in the real release, only dev and eval have the gendered ASV enrolment lists
        assert r["sample_rate"] == 16000
        assert r["gender"] in ("F", "M") if r["split"] != "train" else r["gender"] is None
    assert {r["split"] for r in rows} == {"train", "dev", "eval"}


def test_mlms_alignments_and_per_speaker_splits(tiny_corpus, tmp_path):
    root = tiny_corpus("mlms")
    rows, rejects = _ingest("mlms", root, tmp_path, split_fractions={"train": 0.8, "dev": 0.2})
    assert rejects == [] and len(rows) == len(list(root.glob("*/*/wavs/*.wav")))
    for r in rows:
        assert r["phones"] and r["words"] and r["words"][-1]["end"] <= r["duration"] + 0.01
        assert [w["label"] for w in r["words"]] == r["text"].split()
    speakers = {}
    for r in rows:
        speakers.setdefault(r["speaker"], set()).add(r["split"])
    assert all("train" in s for s in speakers.values())
    assert len({r["language"] for r in rows}) >= 8


def test_noise_categories_and_disjoint_splits(tiny_corpus, tmp_path):
    rows, rejects = _ingest("noise", tiny_corpus("noise"), tmp_path)
    assert rejects == [] and len({r["category"] for r in rows}) == 12
    for category in {r["category"] for r in rows}:
        splits = {r["split"] for r in rows if r["category"] == category}
        assert splits == {"train", "test"}
    assert all(r["speaker"] is None for r in rows)


def test_bad_files_are_rejected_and_the_rest_kept(tiny_corpus, tmp_path):
    root = tmp_path / "LibriTTS"
    shutil.copytree(tiny_corpus("libritts"), root)
    good, _ = _ingest("libritts", root, tmp_path)
    wavs = sorted(root / r["audio_path"] for r in good)
    wavs[0].write_bytes(b"RIFF not really a wav")                     # unreadable
    sf.write(wavs[1], np.zeros(0), 24000, subtype="PCM_16")            # zero length
    sf.write(wavs[2], np.zeros(1600), 16000, subtype="PCM_16")         # wrong rate
    wavs[3].unlink()                                                   # listed but missing
    trans = next(wavs[4].parent.glob("*.trans.tsv"))
    trans.write_text(trans.read_text() + "just one field\n")           # malformed line
    rows, rejects = _ingest("libritts", root, tmp_path)
    reasons = {r["path"]: r["reason"] for r in rejects}
    assert "unreadable audio" in reasons[str(wavs[0])]
    assert reasons[str(wavs[1])] == "zero-length audio"
    assert "16000 Hz, expected 24000 Hz" in reasons[str(wavs[2])]
    assert "missing" in reasons[str(wavs[3])]
    assert any(p.startswith(str(trans)) and "malformed" in r for p, r in reasons.items())
    assert len(rows) == len(good) - 4
    assert {r["utt_id"] for r in rows} == {r["utt_id"] for r in good} - {w.stem for w in wavs[:4]}


def test_manifest_keeps_the_root_and_is_never_partial(tiny_corpus, tmp_path, monkeypatch):
    out = tmp_path / "iemocap.parquet"
    ingest("iemocap", tiny_corpus("iemocap"), out)
    table, root = read_manifest(out)
    assert root == tiny_corpus("iemocap").resolve()
    before = out.read_bytes()

    import voxflow.ingest.iemocap as iemocap
    original = iemocap.prepare_iemocap
    monkeypatch.setattr(iemocap, "prepare_iemocap", lambda *a, **k: _duplicated(original(*a, **k)))
    with pytest.raises(ValueError, match="duplicate utt_id"):
        ingest("iemocap", tiny_corpus("iemocap"), out)
    assert out.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))


def _duplicated(result):
    result.rows.append(dict(result.rows[0]))
    return result


@pytest.mark.parametrize("corpus", ["libritts", "grid", "asvspoof", "iemocap", "mlms", "noise"])
def test_missing_or_unrecognised_root_says_what_was_expected(tmp_path, corpus):
    with pytest.raises(LayoutError, match="expected"):
        ingest(corpus, tmp_path / "nowhere", tmp_path / "m.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="expected"):
        ingest(corpus, tmp_path / "empty", tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()


def test_split_by_fractions_is_deterministic_and_complete():
    keys = [f"s{i}" for i in range(20)]
    fractions = {"train": 0.7, "dev": 0.15, "test": 0.15}
    splits = split_by_fractions(keys, fractions, [3])
    assert splits == split_by_fractions(list(reversed(keys)), fractions, [3])
    assert sorted(splits) == sorted(keys)
    assert [list(splits.values()).count(s) for s in fractions] == [14, 3, 3]
    assert splits != split_by_fractions(keys, fractions, [4])
    assert set(split_by_fractions(["only"], fractions, [0]).values()) == {"train"}
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_fractions(keys, {"train": 0.5, "test": 0.2}, [0])


def test_noise_without_split_markers_gets_disjoint_derived_splits(tmp_path):
    for category in ("car", "water"):
        for i in range(8):
            path = tmp_path / "noise" / category / f"recording{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, np.full(1600, 0.1), 16000, subtype="PCM_16")
    rows, _ = _ingest("noise", tmp_path / "noise", tmp_path, test_fraction=0.25)
    for category in ("car", "water"):
        splits = [r["split"] for r in rows if r["category"] == category]
        assert splits.count("test") == 2 and splits.count("train") == 6


def test_every_manifest_column_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert all(f"| `{name}` |" in readme for name in SCHEMA.names)


def test_same_corpus_gives_identical_manifests_in_any_checkout(tiny_corpus, tmp_path):
    digests = []
    for checkout in ("a", "bb"):
        root = tmp_path / checkout / "data" / "corpora" / "noise"
        shutil.copytree(tiny_corpus("noise"), root)
        out = tmp_path / checkout / "data" / "manifests" / "noise.parquet"
        ingest("noise", root, out)
        assert read_manifest(out)[1] == root.resolve()
        digests.append(out.read_bytes())
    assert digests[0] == digests[1]
