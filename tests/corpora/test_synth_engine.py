"""The parametric synthesizer: determinism, rates, alignments, and acoustic plausibility."""
from __future__ import annotations

import numpy as np
import pytest

from voxflow.features import estimate_f0
from voxflow.synth import ENGLISH, LANGUAGES, sample_speaker, synthesize
from voxflow.synth.engine import ARTICULATION_FPS, plan_utterance, render
from voxflow.synth.languages import GRID_WORDS, HELD_OUT_LANGUAGES, TRAINING_LANGUAGES
from voxflow.synth.voice import Speaker


def _words(*texts):
    return [[ENGLISH.lexicon[t] for t in texts]]


@pytest.fixture(scope="module")
def speaker():
    return sample_speaker(np.random.default_rng(7), "spk", "F")


def _render(speaker, phrases, seed=0, sr=16000, **kw):
    return synthesize(phrases, speaker, ENGLISH, seed, sr, **kw)


def test_same_seed_same_waveform(speaker):
    phrases = _words("place", "green", "at", "b", "nine", "soon")
    a, b = _render(speaker, phrases, 3), _render(speaker, phrases, 3)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones
    assert not np.array_equal(a.audio, _render(speaker, phrases, 4).audio)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 24000, 25000, 44100])
def test_any_sample_rate(speaker, sr):
    u = _render(speaker, _words("set", "white", "with", "s", "two", "please"), sr=sr)
    assert u.sample_rate == sr and u.audio.dtype == np.float32
    assert len(u.audio) == round(u.plan.duration * sr)
    assert np.all(np.isfinite(u.audio)) and 0 < np.abs(u.audio).max() < 1


def test_alignments_tile_the_audio(speaker):
    u = _render(speaker, ENGLISH.sample_sentence(np.random.default_rng(1), 12))
    starts = [p.start for p in u.phones]
    ends = [p.end for p in u.phones]
    assert starts[0] == 0 and np.allclose(starts[1:], ends[:-1])
    assert abs(ends[-1] - len(u.audio) / u.sample_rate) < 1 / u.sample_rate
    assert u.phones[0].label == u.phones[-1].label == "sil"
    assert [w.label for w in u.words] == u.text.split()
    for w in u.words:
        assert any(abs(p.start - w.start) < 1e-9 for p in u.phones)
        assert any(abs(p.end - w.end) < 1e-9 for p in u.phones)
    assert u.articulation.shape == (int(u.plan.duration * ARTICULATION_FPS), 3)


def test_total_duration_is_exact(speaker):
    u = _render(speaker, _words("bin", "blue", "at", "f", "two", "now"), sr=25000,
                total_duration=3.0)
    assert len(u.audio) == 75000 and u.phones[-1].end == pytest.approx(3.0)


def _mean_over(u, labels, track):
    t = (np.arange(len(u.articulation)) + 0.5) / ARTICULATION_FPS
    inside = np.zeros(len(t), bool)
    for p in u.phones:
        if p.label in labels:
            mid = (p.start + p.end) / 2
            inside |= np.abs(t - mid) < 0.02
    return u.articulation[inside, track].mean()


def test_articulation_follows_phones(speaker):
    rng = np.random.default_rng(5)
    u = _render(speaker, ENGLISH.sample_sentence(rng, 40))
    jaw_open_vowels = _mean_over(u, {"aa", "ae", "ay", "aw", "ao"}, 0)
    jaw_bilabials = _mean_over(u, {"p", "b", "m"}, 0)
    jaw_silence = u.articulation[0, 0]
    assert jaw_open_vowels > jaw_bilabials + 0.3 and jaw_silence < 0.05
    assert _mean_over(u, {"uw", "w", "ow"}, 1) > _mean_over(u, {"iy", "ih", "eh"}, 1) + 0.3
    assert _mean_over(u, {"iy", "ih"}, 2) > _mean_over(u, {"uw", "ow"}, 2) + 0.3


def _spectral_centroid(audio, sr, lo=0.0, hi=None):
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    band = (freqs >= lo) & (freqs <= (hi or sr / 2))
    return (spectrum[band] * freqs[band]).sum() / spectrum[band].sum()


def _segments(u, labels):
    sr = u.sample_rate
    return np.concatenate([u.audio[int(p.start * sr):int(p.end * sr)]
                           for p in u.phones if p.label in labels])


def test_fricatives_are_high_frequency_noise(speaker):
    u = _render(speaker, _words("set", "six", "please", "soon", "place", "s"))
    assert _spectral_centroid(_segments(u, {"s"}), 16000) > 3500
    assert _spectral_centroid(_segments(u, {"eh", "ih", "iy", "uw", "ey"}), 16000) < 2000


def test_vocal_tract_length_scales_formants(speaker):
    phrases = _words("lay", "red", "at", "a", "eight", "again")
    centroids = []
    for vtl in (14.0, 18.0):
        voice = Speaker(**{**speaker.__dict__, "vtl_cm": vtl})
        u = _render(voice, phrases, seed=1)
        # above F1, where the harmonics of F0 no longer dominate the centroid
        centroids.append(_spectral_centroid(_segments(u, {"ey", "eh", "ae", "ax"}), 16000,
                                            1000, 5000))
    assert centroids[0] > centroids[1] * 1.08


def test_f0_follows_speaker_and_emotion(speaker):
    phrases = ENGLISH.sample_sentence(np.random.default_rng(2), 10)
    medians, levels = {}, {}
    for emotion in ("neutral", "sad", "angry"):
        u = _render(speaker, phrases, seed=2, emotion=emotion)
        f0 = estimate_f0(u.audio, u.sample_rate)
        medians[emotion] = np.median(f0[f0 > 0])
        levels[emotion] = np.sqrt(np.mean(u.audio ** 2))
    assert abs(np.log2(medians["neutral"] / speaker.f0_median)) < 0.25
    assert medians["sad"] < medians["neutral"] < medians["angry"]
    assert levels["sad"] < levels["neutral"] < levels["angry"]


def test_plan_can_be_altered_and_rendered_again(speaker):
    plan = plan_utterance(_words("bin", "red"), speaker, ENGLISH, np.random.default_rng(0))
    assert np.array_equal(render(plan, 16000), render(plan, 16000))


def test_languages_are_distinct():
    assert len(TRAINING_LANGUAGES) >= 4 and len(HELD_OUT_LANGUAGES) >= 2
    inventories = {code: frozenset(lang.inventory) for code, lang in LANGUAGES.items()}
    assert len(set(inventories.values())) == len(inventories)
    for code, lang in LANGUAGES.items():
        for word in lang.lexicon.values():
            assert set(word.phones) <= inventories[code], (code, word)
        assert len({lang.prosody for lang in LANGUAGES.values()}) == len(LANGUAGES)
    for words in GRID_WORDS.values():
        assert all(w in ENGLISH.lexicon for w in words)


def test_bad_input_is_rejected(speaker):
    with pytest.raises(ValueError, match="at least one"):
        plan_utterance([], speaker, ENGLISH, np.random.default_rng(0))
    with pytest.raises(KeyError):
        _render(speaker, _words("bin"), emotion="bored")
