"""FFHQ-style face alignment: find the face, then cut the oriented square that the FFHQ dataset
was cut with, so that an uploaded photo meets a face model the way its training images did.

The recipe (Karras et al. 2019, the FFHQ dataset's alignment; written here from its geometry):
with the eye centres eL, eR and mouth corners mL, mR,
    eye_avg = (eL + eR) / 2,  eye_to_eye = eR - eL,  eye_to_mouth = (mL + mR) / 2 - eye_avg
    x = eye_to_eye - rot90(eye_to_mouth)      (the horizontal axis, from both cues)
    x = x / |x| * max(2 |eye_to_eye|, 1.8 |eye_to_mouth|),   y = rot90(x)
    centre c = eye_avg + 0.1 eye_to_mouth;  the crop is the square c +- x +- y
so the eyes land near (0.375, 0.47) and (0.625, 0.47) of the output, the chin near the bottom.
Parts of the square outside the photo are filled by reflecting the photo and blurring the
reflection, as FFHQ's script does, so the borders look like background rather than black.

Landmarks come from MTCNN (facenet-pytorch, MIT, weights inside its wheel: works offline).

    face = align_face(pil_image, size=1024)      # PIL image, or raises NoFaceError
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
import PIL.Image
import PIL.ImageFilter


class NoFaceError(ValueError):
    """No face was found in the image (a message for people)."""


@dataclass
class Landmarks:
    eye_left: np.ndarray        # (x, y) in pixels of the image (the eye on the image's left)
    eye_right: np.ndarray
    mouth_left: np.ndarray
    mouth_right: np.ndarray
    score: float = 1.0


_detector_lock = threading.RLock()  # detect_landmarks holds it while it uses the detector


def _mtcnn():
    """MTCNN (facenet-pytorch's weights), built once in the room's cache, on the CPU."""
    from facenet_pytorch import MTCNN

    from . import cached
    return cached(("landmarks", "mtcnn", "cpu"), lambda: MTCNN(keep_all=True, device="cpu"))


def detect_landmarks(image: PIL.Image.Image, min_score: float = 0.9, max_side: int = 1024) -> Optional[Landmarks]:
    """Five-point landmarks of the largest confident face (MTCNN), or None. Large photos are
    detected on a copy at most `max_side` pixels a side (the points scaled back)."""
    image = image.convert("RGB")
    scale = 1.0
    if max(image.size) > max_side:
        scale = max(image.size) / max_side
        image = image.resize((round(image.width / scale), round(image.height / scale)), PIL.Image.BILINEAR)
    with _detector_lock:  # MTCNN holds per-call state in its modules: one detection at a time
        boxes, probs, points = _mtcnn().detect(image, landmarks=True)
    if boxes is None:
        return None
    # facenet-pytorch 2.6 returns object arrays under numpy 2: make them numbers.
    boxes = np.asarray(boxes.tolist(), dtype=np.float64).reshape(-1, 4)
    probs = np.asarray(probs.tolist(), dtype=np.float64).reshape(-1)
    points = np.asarray(points.tolist(), dtype=np.float64).reshape(-1, 5, 2) * scale
    ok = probs >= min_score
    if not ok.any():
        return None
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    i = int(np.argmax(np.where(ok, area, -1)))
    p = points[i]  # left eye, right eye, nose, left mouth corner, right mouth corner
    return Landmarks(p[0], p[1], p[3], p[4], float(probs[i]))


def ffhq_quad(lm: Landmarks) -> np.ndarray:
    """The crop square's corners (top-left, bottom-left, bottom-right, top-right), (4, 2)."""
    eye_avg = (lm.eye_left + lm.eye_right) / 2
    eye_to_eye = lm.eye_right - lm.eye_left
    eye_to_mouth = (lm.mouth_left + lm.mouth_right) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_output(quad: np.ndarray, size: int, point: np.ndarray) -> np.ndarray:
    """Where a point of the photo lands in the size x size output (for checks)."""
    origin, right, down = quad[0], quad[3] - quad[0], quad[1] - quad[0]
    d = np.asarray(point, np.float64) - origin
    return np.array([d @ right / (right @ right), d @ down / (down @ down)]) * size


def warp_quad(image: PIL.Image.Image, quad: np.ndarray, size: int) -> PIL.Image.Image:
    """The quad resampled to a size x size square; outside the photo, a blurred reflection."""
    image = image.convert("RGB")
    qsize = np.hypot(*(quad[3] - quad[0]))
    # Shrink first when the square is much larger than the output (quality and speed).
    shrink = int(np.floor(qsize / size * 0.5))
    if shrink > 1:
        image = image.resize((round(image.width / shrink), round(image.height / shrink)), PIL.Image.LANCZOS)
        quad = quad / shrink
        qsize /= shrink
    # Crop to the square's bounding box (plus a border), then pad what lies outside the photo.
    border = max(int(round(qsize * 0.1)), 3)
    lo = np.floor(quad.min(0)).astype(int) - border
    hi = np.ceil(quad.max(0)).astype(int) + border
    crop = (max(lo[0], 0), max(lo[1], 0), min(hi[0], image.width), min(hi[1], image.height))
    image = image.crop(crop)
    quad = quad - crop[:2]
    pad = (max(crop[0] - lo[0], 0), max(crop[1] - lo[1], 0), max(hi[0] - crop[2], 0), max(hi[1] - crop[3], 0))
    if max(pad) > 0:
        arr = np.asarray(image, np.float32)
        pad = tuple(min(p, s - 1) for p, s in zip(pad, (arr.shape[1], arr.shape[0]) * 2))  # reflect needs p < side
        padded = np.pad(arr, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), mode="reflect")
        h, w = padded.shape[:2]
        yy, xx = np.ogrid[:h, :w]
        # 0 inside the photo, rising to 1 a quarter-border out: how much of the blur shows.
        dist = np.maximum(np.maximum(pad[0] - xx, xx - (w - 1 - pad[2])),
                          np.maximum(pad[1] - yy, yy - (h - 1 - pad[3]))).clip(min=0).astype(np.float32)
        mask = np.clip(dist / max(border * 0.25, 1), 0, 1)[..., None]
        blurred = np.asarray(PIL.Image.fromarray(padded.astype(np.uint8)).filter(PIL.ImageFilter.GaussianBlur(float(qsize) * 0.02)),
                             np.float32)
        median = np.median(arr.reshape(-1, 3), axis=0)
        padded = padded + (blurred - padded) * mask
        padded = padded + (median - padded) * np.clip(mask * 0.5, 0, 1)
        image = PIL.Image.fromarray(np.clip(np.rint(padded), 0, 255).astype(np.uint8))
        quad = quad + pad[:2]
    # QUAD takes the source corners top-left, bottom-left, bottom-right, top-right.
    return image.transform((size, size), PIL.Image.QUAD, (quad + 0.5).flatten(), PIL.Image.BICUBIC)


def align_face(image: PIL.Image.Image, size: int = 1024, landmarks: Optional[Landmarks] = None) -> PIL.Image.Image:
    """The FFHQ-aligned size x size crop of the largest face; NoFaceError where none is found."""
    lm = landmarks or detect_landmarks(image)
    if lm is None:
        raise NoFaceError("no face was found in this image: upload a photo with a clear, front-facing face, "
                          "or turn face alignment off")
    return warp_quad(image, ffhq_quad(lm), size)
