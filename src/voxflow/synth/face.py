"""A talking-face renderer for the GRID videos: a cartoon head whose mouth follows articulation.

A head (hair, skin, ears, eyes, brows, nose, neck and shirt) in front of a plain background is
drawn with anti-aliased ellipses in numpy. The mouth opens with `jaw_open` (dark interior, upper
teeth, chin lowered a little) and widens with `lip_spread` minus `lip_round`, so the mouth area
follows the loudness of the speech, as lip reading needs. Speakers differ in colours and
proportions; the head drifts by a pixel or two. Frames are written as MPEG-1 with PyAV, with one
encoder thread, a fixed quantizer and bit-exact flags so that the same input gives the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from voxflow.synth import portable

WIDTH, HEIGHT, FPS = 360, 288, 25
QUANTIZER = 4                   # MPEG-1 qscale (1 best .. 31 worst)
_LAMBDA_PER_QP = 118            # FF_QP2LAMBDA: ffmpeg's global_quality is qscale in lambda units
_HEAD_Y = 140                   # row of the face centre
_MARGIN = 4                     # room around the still head for the drift

_SKIN_TONES = ((236, 200, 170), (222, 180, 145), (200, 150, 115), (165, 115, 85), (130, 90, 65))
_HAIR_COLOURS = ((35, 25, 20), (70, 45, 25), (120, 80, 40), (190, 150, 90), (110, 105, 100))
_IRIS_COLOURS = ((60, 90, 140), (70, 110, 70), (90, 60, 35), (50, 35, 25))
_BACKGROUNDS = ((150, 165, 190), (175, 185, 160), (190, 175, 150), (140, 160, 160),
                (185, 180, 185))
_SHIRTS = ((60, 80, 130), (120, 40, 50), (60, 110, 70), (150, 150, 155), (90, 70, 110))
_MOUTH_INTERIOR = (45, 12, 18)
_TEETH = (235, 230, 215)
_EYE_WHITE = (245, 245, 240)


@dataclass(frozen=True)
class FaceStyle:
    """One speaker's appearance; lengths in pixels, colours RGB."""
    background: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    iris: tuple[int, int, int]
    long_hair: bool
    head_width: float           # half-width of the face ellipse
    head_height: float          # half-height of the face ellipse
    eye_gap: float              # half the distance between the eye centres
    mouth_width: float          # half-width of the mouth at rest


def sample_face(rng: np.random.Generator, gender: str) -> FaceStyle:
    """Draw an appearance; women have long hair and a narrower face."""
    if gender not in ("F", "M"):
        raise ValueError(f"gender must be 'F' or 'M', got {gender!r}")
    female = gender == "F"

    def pick(palette):
        return palette[rng.integers(len(palette))]

    return FaceStyle(
        background=pick(_BACKGROUNDS), skin=pick(_SKIN_TONES), hair=pick(_HAIR_COLOURS),
        shirt=pick(_SHIRTS), iris=pick(_IRIS_COLOURS),
        long_hair=female,
        head_width=float(rng.uniform(72, 80) if female else rng.uniform(78, 88)),
        head_height=float(rng.uniform(100, 110)),
        eye_gap=float(rng.uniform(30, 36)),
        mouth_width=float(rng.uniform(20, 26)),
    )


def render_frames(style: FaceStyle, articulation: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """(frames, 3) articulation (jaw_open, lip_round, lip_spread in [0, 1]) -> uint8 RGB frames
    of shape (frames, HEIGHT, WIDTH, 3)."""
    articulation = np.asarray(articulation, dtype=float)
    if articulation.ndim != 2 or articulation.shape[1] != 3:
        raise ValueError(f"articulation must have shape (frames, 3), got {articulation.shape}")
    n = len(articulation)
    # slow head drift of about +-2 px: two sinusoids per axis with random frequency and phase,
    # rounded to whole pixels so that the still part of the head is drawn only once
    t = np.arange(n) / FPS
    drift = np.zeros((n, 2))
    for axis in range(2):
        for _ in range(2):
            drift[:, axis] += rng.uniform(0.5, 1.0) * portable.sin(
                2 * np.pi * rng.uniform(0.15, 0.6) * t + rng.uniform(0, 2 * np.pi))
    drift = np.round(drift).astype(int)

    head = np.empty((HEIGHT + 2 * _MARGIN, WIDTH + 2 * _MARGIN, 3))
    head[:] = style.background
    _draw_still_head(head, style, WIDTH / 2 + _MARGIN, _HEAD_Y + _MARGIN)
    head_bytes = _to_bytes(head)
    w, h = style.head_width, style.head_height
    frames = np.empty((n, HEIGHT, WIDTH, 3), np.uint8)
    for k, ((dx, dy), (jaw, rounding, spread)) in enumerate(
            zip(drift, np.clip(articulation, 0.0, 1.0))):
        top, left = _MARGIN - dy, _MARGIN - dx
        frames[k] = head_bytes[top:top + HEIGHT, left:left + WIDTH]
        # only the lower face moves with the jaw: redraw that patch alone, in float
        cx, cy = WIDTH / 2 + dx, _HEAD_Y + dy
        x0, x1 = int(cx - 0.55 * w) - 4, int(cx + 0.55 * w) + 5
        y0, y1 = int(cy + 0.5 * h) - 24, int(cy + h) + 10
        patch = head[top + y0:top + y1, left + x0:left + x1].copy()
        _draw_jaw(patch, style, cx - x0, cy - y0, jaw, rounding, spread)
        frames[k, y0:y1, x0:x1] = _to_bytes(patch)
    return frames


def _to_bytes(canvas: np.ndarray) -> np.ndarray:
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _draw_still_head(canvas, style: FaceStyle, cx: float, cy: float) -> None:
    """Everything but the chin and the mouth, for the face centred at (cx, cy)."""
    w, h = style.head_width, style.head_height
    _ellipse(canvas, cx, cy + 188, 150, 95, style.shirt)                  # shoulders
    _ellipse(canvas, cx, cy + h * 0.9, w * 0.45, h * 0.5, _shade(style.skin, 0.85))   # neck
    if style.long_hair:
        _ellipse(canvas, cx, cy + h * 0.25, w * 1.3, h * 1.05, style.hair)
    _ellipse(canvas, cx, cy - h * 0.2, w * 1.06, h * 0.85, style.hair)    # crown, ends at the ears
    for side in (-1, 1):
        _ellipse(canvas, cx + side * w * 0.98, cy + h * 0.05, w * 0.16, h * 0.2, style.skin)
    _ellipse(canvas, cx, cy, w, h, style.skin)
    _ellipse(canvas, cx, cy - h * 0.72, w * 0.9, h * 0.32, style.hair)    # fringe
    _ellipse(canvas, cx, cy - h * 0.5, w * 0.92, h * 0.2, style.skin)     # forehead under it

    eye_y = cy - h * 0.12
    for side in (-1, 1):
        ex = cx + side * style.eye_gap
        _ellipse(canvas, ex, eye_y - 16, 15, 3.5, _shade(style.hair, 0.9))   # brow
        _ellipse(canvas, ex, eye_y, 13, 7, _EYE_WHITE)
        _ellipse(canvas, ex, eye_y, 6, 6, style.iris)
        _ellipse(canvas, ex, eye_y, 2.5, 2.5, (20, 20, 25))
    nose_y = cy + h * 0.22
    _ellipse(canvas, cx, nose_y - 14, 6, 20, _shade(style.skin, 0.93))
    _ellipse(canvas, cx, nose_y, 13, 8, _shade(style.skin, 0.88))
    for side in (-1, 1):
        _ellipse(canvas, cx + side * 6, nose_y + 3, 3, 2, _shade(style.skin, 0.65))   # nostrils


def _draw_jaw(canvas, style: FaceStyle, cx: float, cy: float, jaw: float, rounding: float,
              spread: float) -> None:
    """Chin and mouth of the face centred at (cx, cy): the opening jaw lowers both."""
    w, h = style.head_width, style.head_height
    drop = 5 * jaw
    # at rest this chin ellipse lies inside the face; lowered, it stretches the lower face
    _ellipse(canvas, cx, cy + h * 0.72 + drop, w * 0.55, h * 0.28, style.skin)
    _draw_mouth(canvas, style, cx, cy + h * 0.5 + drop / 2, jaw, rounding, spread)


def _draw_mouth(canvas, style: FaceStyle, cx: float, cy: float, jaw: float, rounding: float,
                spread: float) -> None:
    """Lips, dark interior and upper teeth; the interior area grows with jaw opening."""
    half_width = style.mouth_width * (1.0 + 0.3 * spread - 0.35 * rounding)
    opening = 16.0 * jaw                      # half-height of the interior
    lips = _shade((200, 90, 95), 0.5, style.skin)
    _ellipse(canvas, cx, cy, half_width + 4, opening + 4, lips)
    if opening < 0.5:
        # closed lips: only the darker line where they meet
        _ellipse(canvas, cx, cy, half_width, 0.8, _shade(lips, 0.6))
        return
    x0, x1, y0, y1 = _box(canvas, cx, cy, half_width, opening)
    y, x = np.ogrid[y0:y1, x0:x1]
    interior = _coverage(y, x, cx, cy, half_width, opening)
    teeth = interior * _coverage(y, x, cx, cy - opening, half_width * 0.75,
                                 min(5.0, 0.4 * opening))
    region = canvas[y0:y1, x0:x1]
    region += interior[..., None] * (np.asarray(_MOUTH_INTERIOR) - region)
    region += teeth[..., None] * (np.asarray(_TEETH) - region)


def _ellipse(canvas, cx: float, cy: float, rx: float, ry: float, colour) -> None:
    """Blend a filled, anti-aliased ellipse into `canvas` (float RGB), within its bounding box."""
    x0, x1, y0, y1 = _box(canvas, cx, cy, rx, ry)
    if x1 <= x0 or y1 <= y0:
        return
    y, x = np.ogrid[y0:y1, x0:x1]
    alpha = _coverage(y, x, cx, cy, rx, ry)[..., None]
    region = canvas[y0:y1, x0:x1]
    region += alpha * (np.asarray(colour, dtype=float) - region)


def _box(canvas, cx: float, cy: float, rx: float, ry: float) -> tuple[int, int, int, int]:
    """Bounding box (x0, x1, y0, y1) of an ellipse, clipped to the canvas."""
    height, width = canvas.shape[:2]
    return (max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, width),
            max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, height))


def _coverage(y, x, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Fraction of each pixel inside the ellipse, from an approximate distance to its edge."""
    radius = np.sqrt(((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2)
    return np.clip((1.0 - radius) * min(rx, ry) + 0.5, 0.0, 1.0)


def _shade(colour, factor: float, towards=(0, 0, 0)) -> tuple[float, float, float]:
    """`colour` moved towards `towards` (black by default): factor 1 keeps it, 0 replaces it."""
    return tuple(t + factor * (c - t) for c, t in zip(colour, towards))


def write_video(path: Path, frames: np.ndarray) -> None:
    """uint8 RGB frames (n, HEIGHT, WIDTH, 3) -> MPEG-1 program stream (.mpg) at 25 fps."""
    if frames.dtype != np.uint8 or frames.shape[1:] != (HEIGHT, WIDTH, 3):
        raise ValueError(f"frames must be uint8 of shape (n, {HEIGHT}, {WIDTH}, 3), "
                         f"got {frames.dtype} {frames.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"flags": "+bitexact+qscale", "global_quality": str(QUANTIZER * _LAMBDA_PER_QP),
               "g": "12", "bf": "0"}
    with av.open(str(path), "w", format="mpeg", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg1video", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.thread_count = 1       # threaded encoding may split slices differently
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
