"""What a vocoder without periodic excitation can score at best: PESQ and MCD of two oracle
re-syntheses of the vocoder evaluation's natural recordings, beside Griffin-Lim's.

    python benchmarks/vocoder_bounds.py [--audio reports/vocoder/audio]

- envelope noise: each STFT frame's spectral envelope (the first 30 cepstral coefficients of its
  log magnitude), at the frame's energy, on random phases: perfect envelope and level, noise
  excitation. This is the best a student that shapes its logistic noise, but has not learned to
  make it periodic, can do.
- random phase: the exact STFT magnitude on random phases: every harmonic in place, no phase
  coherence.

Both use the true waveform, which no vocoder sees; STFT of 50 ms windows, 12.5 ms hop, as the
features. `--audio` is `vocoder-evaluate`'s audio folder (reference/ and griffin-lim/ inside).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import istft, stft

from voxflow.evaluation.quality import pesq_score
from voxflow.evaluation.spectral import mcd

WINDOW, OVERLAP, N_FFT, CEPSTRA = 1200, 900, 2048, 30


def envelope_noise(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    _, _, spectrum = stft(x, rate, nperseg=WINDOW, noverlap=OVERLAP, nfft=N_FFT)
    cepstrum = np.fft.irfft(np.log(np.abs(spectrum) + 1e-9), axis=0)
    cepstrum[CEPSTRA:-CEPSTRA] = 0
    envelope = np.exp(np.fft.rfft(cepstrum, axis=0).real)
    gain = np.sqrt((np.abs(spectrum) ** 2).sum(0) / ((envelope ** 2).sum(0) + 1e-12))
    return _resynthesize(envelope * gain, rate, rng, len(x))


def random_phase(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    _, _, spectrum = stft(x, rate, nperseg=WINDOW, noverlap=OVERLAP, nfft=N_FFT)
    return _resynthesize(np.abs(spectrum), rate, rng, len(x))


def _resynthesize(magnitude, rate, rng, length) -> np.ndarray:
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, magnitude.shape))
    _, y = istft(magnitude * phases, rate, nperseg=WINDOW, noverlap=OVERLAP, nfft=N_FFT)
    return y[:length]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=Path("reports/vocoder/audio"))
    args = parser.parse_args()
    references = sorted((args.audio / "reference").glob("*.wav"))
    if not references:
        raise SystemExit(f"{args.audio / 'reference'}: no wav; run `voxflow repro "
                         "vocoder-evaluate` first")
    rng = np.random.default_rng(0)
    scores: dict[str, list[tuple[float, float]]] = {}
    for path in references:
        x, rate = sf.read(path)
        systems = {"envelope noise (oracle)": envelope_noise(x, rate, rng),
                   "random phase (oracle)": random_phase(x, rate, rng)}
        griffin_lim = args.audio / "griffin-lim" / path.name
        if griffin_lim.is_file():
            systems["griffin-lim"] = sf.read(griffin_lim)[0]
        for name, y in systems.items():
            scores.setdefault(name, []).append(
                (pesq_score(x, y, rate, "wb"), mcd(x, y, rate)))
    print(f"{len(references)} utterances of {args.audio}\n")
    print("| re-synthesis | PESQ (wb) | MCD (dB) |\n|---|---|---|")
    for name, values in scores.items():
        pesq, distortion = np.mean(values, axis=0)
        print(f"| {name} | {pesq:.2f} | {distortion:.2f} |")


if __name__ == "__main__":
    main()
