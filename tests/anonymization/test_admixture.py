"""Random admixture (paper 003 section 2.4): the per-utterance draw, its proportions and
determinism, and the DAG's admixture of two anonymized folders against the anonymizer."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxflow.anonymization.anonymizers import (Admixture, admix_folders, admixture_draw,
                                               anonymize_table, folder_table, read_anonymized,
                                               utterance_rng)


class Scaled:
    """Noise from the utterance's random state times `gain`: shows which system and state."""

    def __init__(self, gain: float, refuse: str | None = None):
        self.gain, self.refuse = gain, refuse

    def anonymize(self, waveform, rate, rng, speaker=None):
        if self.refuse is not None and len(waveform) == self.refuse:
            raise ValueError("refused")
        return (self.gain * rng.uniform(-0.1, 0.1, 1600)).astype(np.float32)


def _folder(tmp_path, count=40):
    root = tmp_path / "in"
    root.mkdir()
    for index in range(count):
        sf.write(root / f"u{index:03d}.wav", np.zeros(1600 + index, np.float32), 16000)
    return root


def test_the_draw_leaves_the_utterance_state_untouched():
    rng = utterance_rng(0, "u1")
    admixture_draw(rng)
    assert rng.random() == utterance_rng(0, "u1").random()


def test_the_draw_is_the_same_for_the_same_seed_and_id():
    assert admixture_draw(utterance_rng(3, "u1")) == admixture_draw(utterance_rng(3, "u1"))
    assert admixture_draw(utterance_rng(3, "u1")) != admixture_draw(utterance_rng(4, "u1"))


@pytest.mark.parametrize("p", [0.2, 0.325, 0.5])
def test_the_first_system_gets_a_share_p_of_the_utterances(p):
    draws = np.array([admixture_draw(utterance_rng(0, f"u{i}")) for i in range(4000)])
    # binomial standard deviation of the share at 4000 utterances: at most 0.008
    assert abs(np.mean(draws < p) - p) < 4 * np.sqrt(p * (1 - p) / 4000)


def test_the_chosen_system_anonymizes_as_it_does_alone():
    first, second = Scaled(1.0), Scaled(2.0)
    wave = np.zeros(1600, np.float32)
    for index in range(20):
        utt = f"u{index}"
        chosen = first if admixture_draw(utterance_rng(0, utt)) < 0.5 else second
        mixed = Admixture(first, second, 0.5).anonymize(wave, 16000, utterance_rng(0, utt))
        assert np.array_equal(mixed, chosen.anonymize(wave, 16000, utterance_rng(0, utt)))


def test_a_p_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="p must be in"):
        Admixture(Scaled(1.0), Scaled(2.0), 1.5)


def test_admixed_folders_hold_what_the_admixture_anonymizer_writes(tmp_path):
    root = _folder(tmp_path)
    table = folder_table(root)
    first, second = Scaled(1.0), Scaled(2.0, refuse=1600 + 7)
    for name, model in (("first", first), ("second", second),
                        ("direct", Admixture(first, second, 0.4))):
        anonymize_table(model, table, root, tmp_path / name, seed=5)
    mixed = admix_folders(tmp_path / "first", tmp_path / "second", tmp_path / "mixed", 0.4, 5)
    direct = read_anonymized(tmp_path / "direct").set_index("utt_id")
    from_folders = read_anonymized(tmp_path / "mixed").set_index("utt_id")
    assert sorted(from_folders.index) == sorted(direct.index)
    for utt in direct.index:
        assert np.array_equal(sf.read(from_folders.loc[utt, "audio_path"])[0],
                              sf.read(direct.loc[utt, "audio_path"])[0])
    rejected = (tmp_path / "mixed" / "rejects.csv").read_text()
    assert ("u007" in rejected) == ("u007" not in direct.index)
    assert 0 < mixed["from_first"].mean() < 1


def test_admixtures_at_two_p_are_nested(tmp_path):
    root = _folder(tmp_path)
    for name, gain in (("first", 1.0), ("second", 2.0)):
        anonymize_table(Scaled(gain), folder_table(root), root, tmp_path / name, seed=0)
    low, high = (admix_folders(tmp_path / "first", tmp_path / "second", tmp_path / f"p{p}", p, 0)
                 for p in (0.2, 0.6))
    assert set(low.utt_id[low.from_first]) <= set(high.utt_id[high.from_first])
