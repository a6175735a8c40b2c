"""Elementary functions and linear algebra that give the same bits on every x86_64 CPU.

numpy picks its float64 exp, log, power, sin, cos, tan, log10, arctan2, ... at run time by CPU:
AVX-512 machines run SIMD code (SVML), the others the C library, whose glibc picks an FMA
variant or not; numpy's complex abs and multiply fuse operations on AVX2 and not on SSE; BLAS
(`@`, `np.linalg`) picks its kernel, and so its summation order, per CPU. The last bits of their
results differ, and a corpus built with them is byte-identical on one machine only (a few FLAC
samples and TextGrid times change). The functions here use only +, -, *, /, sqrt, rint, frexp
and ldexp on numpy arrays (or Python floats), which IEEE 754 rounds the same way on every CPU
and in every SIMD width, so the synthesizer's output depends only on the seed. They agree with
numpy's to 1-2 ulp, far below anything audible, at a few vectorised passes each.
pocketfft (scipy.fft, np.fft), sosfilt/lfilter, correlate1d and upfirdn are the same everywhere
and are used as they are.

`tests/corpora/test_portable_synthesis.py` checks the hashes of a small synthesis natively and
under an emulated AVX2 and SSE4 CPU (see the README, "Reproducibility across machines").
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Cody-Waite splits: the high parts have trailing zero bits, so k * HI is exact for |k| < 2**20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_PIO2_1 = 1.57079632673412561417e+00      # first 33 bits of pi/2
_PIO2_2 = 6.07710050630396597660e-11      # next 33 bits
_PIO2_3 = 2.02226624879595063154e-21      # the rest
_INV_PIO2 = 6.36619772367581382433e-01

# Taylor coefficients 1/n!, highest first (Horner): exp on |r| <= ln2/2, sin/cos on |r| <= pi/4
_INV_FACT = [1.0]
for _n in range(1, 20):
    _INV_FACT.append(_INV_FACT[-1] / _n)
del _n
_EXP_POLY = _INV_FACT[13::-1]                                          # r^13/13! .. 1
_SIN_POLY = [(-1) ** k * _INV_FACT[2 * k + 1] for k in range(9)][::-1]  # in r^2, times r
_COS_POLY = [(-1) ** k * _INV_FACT[2 * k] for k in range(10)][::-1]     # in r^2
_ATANH_POLY = [1.0 / (2 * k + 1) for k in range(14)][::-1]               # in s^2, times s


def _horner(coefficients: list[float], x: np.ndarray) -> np.ndarray:
    acc = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        acc = acc * x + c
    return acc


def _array(x) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float64)
    return a, a.ndim == 0


def _out(a: np.ndarray, scalar: bool):
    return float(a) if scalar else a


def exp(x):
    """e**x, elementwise (float for a scalar argument)."""
    x, scalar = _array(x)
    x = np.clip(x, -1100.0, 710.0)          # 0.0 below -745, inf above 709.78, as np.exp
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return _out(np.ldexp(_horner(_EXP_POLY, r), k.astype(np.int32)), scalar)


def log(x):
    """Natural logarithm of x > 0, elementwise (0 gives -inf, negatives nan)."""
    x, scalar = _array(x)
    m, e = np.frexp(x)                       # x = m * 2**e, m in [0.5, 1)
    low = m < np.sqrt(0.5)
    m = np.where(low, 2 * m, m)              # m in [0.707, 1.414): log(m) = 2 atanh(s)
    e = (e - low).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (m - 1) / (m + 1)
        tail = 2 * s * _horner(_ATANH_POLY, s * s)
        out = e * _LN2_HI + (e * _LN2_LO + tail)
        out = np.where(x > 0, out, np.where(x == 0, -np.inf, np.nan))
        out = np.where(np.isinf(x) & (x > 0), np.inf, out)
    return _out(out, scalar)


def power(base, exponent):
    """base**exponent for base > 0, as exp(exponent * log(base))."""
    return exp(np.multiply(exponent, log(base)))


def db_to_gain(db):
    """10**(db / 20)."""
    return power(10.0, np.divide(db, 20.0))


def semitones(st):
    """2**(st / 12), the frequency ratio of `st` semitones."""
    return power(2.0, np.divide(st, 12.0))


def _reduce(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = k pi/2 + r, |r| <= pi/4: exact for |x| < 2**19 pi/2; beyond, k * _PIO2_1 rounds and r
    is off by about |x| * 1e-16 (a phase error, still the same bits everywhere)."""
    k = np.rint(x * _INV_PIO2)
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    return r, k.astype(np.int64) & 3


def _sin_cos(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r2 = r * r
    return r * _horner(_SIN_POLY, r2), _horner(_COS_POLY, r2)


def sin(x):
    """Sine, elementwise."""
    x, scalar = _array(x)
    r, quadrant = _reduce(x)
    s, c = _sin_cos(r)
    out = np.choose(quadrant, [s, c, -s, -c])
    return _out(out, scalar)


def cos(x):
    """Cosine, elementwise."""
    x, scalar = _array(x)
    r, quadrant = _reduce(x)
    s, c = _sin_cos(r)
    out = np.choose(quadrant, [c, -s, -c, s])
    return _out(out, scalar)


def tan(x):
    """Tangent, elementwise, as sin / cos."""
    x, scalar = _array(x)
    r, quadrant = _reduce(x)
    s, c = _sin_cos(r)
    odd = (quadrant & 1).astype(bool)
    return _out(np.where(odd, -c / s, s / c), scalar)


def hann(n: int) -> np.ndarray:
    """np.hanning(n): the symmetric Hann window."""
    if n == 1:
        return np.ones(1)
    return 0.5 - 0.5 * cos(2 * np.pi * np.arange(n) / (n - 1))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D float arrays, summed over the inner axis in index order (BLAS picks its
    kernel, and so its summation order, per CPU)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        out += a[:, k:k + 1] * b[k]
    return out


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of a * b over one axis, in index order."""
    total = 0.0
    for p in (np.asarray(a, np.float64) * np.asarray(b, np.float64)).tolist():
        total += p
    return total


def norm(a: np.ndarray) -> float:
    """Euclidean norm of a vector."""
    return float(np.sqrt(dot(a, a)))


def fir(x: np.ndarray, taps) -> np.ndarray:
    """np.convolve(x, taps) (full length) for a short list of taps, tap by tap."""
    x = np.asarray(x, np.float64)
    out = np.zeros(len(x) + len(taps) - 1)
    for k, tap in enumerate(taps):
        out[k:k + len(x)] += tap * x
    return out


@lru_cache(maxsize=None)
def _pinv_cached(key: bytes, shape: tuple[int, int], rcond: float) -> np.ndarray:
    a = np.frombuffer(key, np.float64).reshape(shape)
    gram = matmul(a, a.T)
    n = len(gram)
    gram = gram + rcond * (np.trace(gram) / n) * np.eye(n)
    augmented = np.hstack([gram, np.eye(n)])
    for col in range(n):                     # Gauss-Jordan with partial pivoting
        pivot = col + int(np.argmax(np.abs(augmented[col:, col])))
        augmented[[col, pivot]] = augmented[[pivot, col]]
        augmented[col] = augmented[col] / augmented[col, col]
        others = np.arange(n) != col
        augmented[others] -= augmented[others, col:col + 1] * augmented[col]
    return matmul(a.T, augmented[:, n:])


def pinv(a: np.ndarray, rcond: float = 1e-14) -> np.ndarray:
    """Pseudo-inverse of a wide matrix, a.T (a a.T + lambda I)^-1 with lambda `rcond` times the
    mean eigenvalue of a a.T, by Gauss-Jordan elimination in numpy row operations
    (np.linalg.pinv runs LAPACK on BLAS kernels chosen per CPU). For a filterbank it is
    np.linalg.pinv but where a row is nearly dependent on the others (two mel filters on the
    same FFT bins): that direction is damped, not inverted. Cached: filterbanks are constant."""
    a = np.ascontiguousarray(a, np.float64)
    return _pinv_cached(a.tobytes(), a.shape, float(rcond))


def log1p(x):
    """log(1 + x) for x > -1, accurate near 0 (the rounding of 1 + x is corrected)."""
    x, scalar = _array(x)
    u = 1.0 + x
    safe = np.where(u == 1.0, 2.0, u)
    out = np.where(u == 1.0, x, log(safe) - ((safe - 1.0) - x) / safe)
    return _out(out, scalar)


# ---------------------------------------------------------------------------------------------
# complex spectra

def cmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b of complex arrays from real products (numpy's AVX2/AVX-512 complex multiply fuses
    them, its SSE one does not)."""
    a, b = np.asarray(a, np.complex128), np.asarray(b, np.complex128)
    return _complex(a.real * b.real - a.imag * b.imag, a.real * b.imag + a.imag * b.real)


def _complex(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    out = np.empty(np.broadcast(re, im).shape, np.complex128)
    out.real, out.imag = re, im
    return out


def power_spectrum(z: np.ndarray) -> np.ndarray:
    """|z|**2 of a complex array."""
    return z.real * z.real + z.imag * z.imag


def magnitude(z: np.ndarray) -> np.ndarray:
    """|z| of a complex array as sqrt(re**2 + im**2) (numpy's complex abs is a hypot whose SIMD
    and scalar versions differ; spectra never overflow)."""
    return np.sqrt(power_spectrum(z))


def expi(phase) -> np.ndarray:
    """exp(1j * phase), elementwise."""
    phase, _ = _array(phase)
    r, quadrant = _reduce(phase)
    s, c = _sin_cos(r)
    return _complex(np.choose(quadrant, [c, -s, -c, s]), np.choose(quadrant, [s, c, -s, -c]))


def unit_phasor(z: np.ndarray) -> np.ndarray:
    """exp(1j * angle(z)) without arctan2: z / |z|, and 1 where z is 0."""
    m = magnitude(z)
    safe = np.where(m > 0, m, 1.0)
    return _complex(np.where(m > 0, z.real / safe, 1.0), np.where(m > 0, z.imag / safe, 0.0))


def fftconvolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scipy.signal.fftconvolve(a, b) (full) of real 1-D arrays, the spectra multiplied by
    `cmul`; pocketfft itself gives the same bits everywhere."""
    from scipy.fft import irfft, next_fast_len, rfft

    n = len(a) + len(b) - 1
    size = next_fast_len(n, real=True)
    return irfft(cmul(rfft(a, size), rfft(b, size)), size)[:n]


# ---------------------------------------------------------------------------------------------
# filters: scipy designs them with numpy's tan, exp and complex arithmetic

def gaussian_filter1d(x: np.ndarray, sigma: float, axis: int = -1, mode: str = "reflect",
                      truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d (order 0) with the kernel's exp computed here."""
    from scipy.ndimage import correlate1d

    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = exp(-0.5 / (sigma * sigma) * (offsets * offsets))
    kernel = kernel / kernel.sum()
    return correlate1d(np.asarray(x, np.float64), kernel[::-1], axis, None, mode, 0.0, 0)


def _csqrt(z: complex) -> complex:
    """Principal square root from real square roots (IEEE rounds sqrt exactly; Python's
    ** 0.5 and cmath go through the C library's pow and hypot)."""
    modulus = math.sqrt(z.real * z.real + z.imag * z.imag)
    re = math.sqrt((modulus + z.real) / 2)
    im = math.sqrt(max(modulus - z.real, 0.0) / 2)
    return complex(re, im if z.imag >= 0 else -im)


def butter_sos(order: int, cutoff, kind: str, fs: float) -> np.ndarray:
    """Second-order sections of a digital Butterworth filter, as scipy.signal.butter(order,
    cutoff, kind, fs=fs, output="sos") designs it (bilinear transform with pre-warped edges;
    the same poles to about 1e-15, the gain in the first section), in Python float arithmetic
    with this module's tan/sin/cos. kind: lowpass, highpass (even orders) or bandpass."""
    if kind not in ("lowpass", "highpass", "bandpass"):
        raise ValueError(f"unknown filter kind {kind!r}")
    if kind != "bandpass" and order % 2:
        raise ValueError("low- and high-pass designs need an even order")
    edges = [cutoff] if kind != "bandpass" else list(cutoff)
    # the analog edges whose bilinear transforms land on the digital ones
    warped = [2 * fs * tan(np.pi * float(f) / fs) for f in edges]
    prototype = [complex(-cos(np.pi * m / (2 * order)), -sin(np.pi * m / (2 * order)))
                 for m in range(-order + 1, order, 2)]
    if kind == "lowpass":
        poles = [p * warped[0] for p in prototype]
        numerator, reference = (1.0, 2.0, 1.0), 1.0 + 0j                # unit gain at DC
    elif kind == "highpass":
        poles = [warped[0] / p for p in prototype]
        numerator, reference = (1.0, -2.0, 1.0), -1.0 + 0j               # at Nyquist
    else:
        centre, width = math.sqrt(warped[0] * warped[1]), warped[1] - warped[0]
        poles = []
        for p in prototype:
            half = p * width / 2
            root = _csqrt(half * half - centre * centre)
            poles += [half + root, half - root]
        numerator = (1.0, 0.0, -1.0)
        reference = (2 * fs + 1j * centre) / (2 * fs - 1j * centre)     # at the centre
    digital = [(2 * fs + p) / (2 * fs - p) for p in poles]
    upper = sorted((z for z in digital if z.imag > 0),
                   key=lambda z: z.real * z.real + z.imag * z.imag)     # unit circle last
    if 2 * len(upper) != len(digital):
        raise ValueError("the design has real poles; use another order or band")
    sos = np.array([[*numerator, 1.0, -2 * z.real, z.real * z.real + z.imag * z.imag]
                    for z in upper])
    inverse = 1 / reference
    response = 1 + 0j
    for b0, b1, b2, _, a1, a2 in sos.tolist():
        response *= ((b0 + (b1 + b2 * inverse) * inverse) / (1 + (a1 + a2 * inverse) * inverse))
    sos[0, :3] /= math.sqrt(response.real * response.real + response.imag * response.imag)
    return sos


def _i0(x: np.ndarray) -> np.ndarray:
    """Modified Bessel function I0 by its power series (x <= 20)."""
    quarter = x * x / 4
    term, total = np.ones_like(x), np.ones_like(x)
    for k in range(1, 60):
        term = term * quarter / (k * k)
        total = total + term
    return total


def resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """scipy.signal.resample_poly(x, up, down) with its default anti-aliasing filter (a
    Kaiser-windowed sinc, beta 5) computed here."""
    from scipy.signal import resample_poly as _resample_poly

    g = math.gcd(up, down)
    up, down = up // g, down // g
    max_rate = max(up, down)
    half_len = 10 * max_rate
    m = np.arange(2 * half_len + 1, dtype=np.float64) - half_len
    arg = np.pi * m / max_rate
    sinc = np.where(m == 0, 1.0, sin(arg) / np.where(m == 0, 1.0, arg)) / max_rate
    ratio = m / half_len
    window = _i0(5.0 * np.sqrt(1 - ratio * ratio)) / _i0(np.array(5.0))
    taps = sinc * window
    return _resample_poly(x, up, down, window=taps / taps.sum())
