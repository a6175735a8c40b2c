"""`voxflow synth`: the command line, determinism across worker counts, and the size budget."""
from __future__ import annotations

import hashlib

import pytest

from voxflow.cli import main
from voxflow.synth.corpora import CORPORA


def _digests(root):
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("corpus, folder", [("iemocap", "IEMOCAP_full_release"),
                                            ("noise", "noise")])
def test_same_seed_gives_identical_bytes_whatever_the_workers(tiny_corpus, tmp_path, corpus,
                                                              folder):
    assert main(["synth", corpus, "--out", str(tmp_path), "--size", "tiny", "--seed", "0",
                 "--workers", "1"]) == 0
    assert _digests(tmp_path / folder) == _digests(tiny_corpus(corpus))


def test_other_seed_gives_other_data(tiny_corpus, tmp_path):
    assert main(["synth", "noise", "--out", str(tmp_path), "--seed", "1"]) == 0
    ours, theirs = _digests(tmp_path / "noise"), _digests(tiny_corpus("noise"))
    assert ours.keys() == theirs.keys() and all(ours[k] != theirs[k] for k in ours)


def test_refuses_to_overwrite_a_corpus(tmp_path, caplog):
    (tmp_path / "noise").mkdir()
    (tmp_path / "noise" / "keep.txt").write_text("user data")
    assert main(["synth", "noise", "--out", str(tmp_path)]) == 2
    assert "not empty" in caplog.text
    assert (tmp_path / "noise" / "keep.txt").read_text() == "user data"


def test_bad_arguments_exit_with_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        main(["synth", "timit", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["synth", "noise", "--out", str(tmp_path), "--size", "huge"])


def test_tiny_corpora_fit_the_size_budget(tiny_corpus):
    total = sum(p.stat().st_size for name in CORPORA for p in tiny_corpus(name).rglob("*")
                if p.is_file())
    assert total < 300 * 2**20
