"""Visitors' images: read whatever is uploaded into a plain RGB PIL image, or refuse it with a
message, with bounded memory and time.

- The file's size and the image's declared size are checked before any pixel is decoded
  (a 50-megapixel photo, or a tiny PNG that declares 100,000 x 100,000, is refused from its header).
- Not an image, truncated data: a message, never a traceback.
- Animated images (GIF, WebP, APNG): the first frame.
- EXIF orientation is honoured (phone photos stand upright).
- CMYK, 16-bit, palette, greyscale: converted to 8-bit RGB; transparency is flattened onto white.
- Images smaller than MIN_SIDE pixels a side are refused (too little to project).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import PIL.Image
import PIL.ImageOps

from .errors import StudioError

MAX_UPLOAD_BYTES = int(os.environ.get("STUDIO_MAX_IMAGE_MB", "25")) << 20
MAX_PIXELS = int(float(os.environ.get("STUDIO_MAX_IMAGE_MEGAPIXELS", "40")) * 1_000_000)
MIN_SIDE = 16


def read_image(path) -> PIL.Image.Image:
    """An uploaded image file -> an RGB PIL image (first frame, upright), or a StudioError."""
    if not path:
        raise StudioError("upload an image first")
    try:
        size = os.path.getsize(path)
    except OSError:
        raise StudioError("that upload could not be read; upload the image again") from None
    if size > MAX_UPLOAD_BYTES:
        raise StudioError(f"that file is {size / 2**20:.0f} MB; images up to {MAX_UPLOAD_BYTES >> 20} MB are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            image = PIL.Image.open(path)  # reads the header only
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise StudioError(f"that image is {w} x {h} ({w * h / 1e6:.0f} megapixels); at most "
                                  f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted: make it smaller and upload it again")
            if min(w, h) < MIN_SIDE:
                raise StudioError(f"that image is {w} x {h}; it needs at least {MIN_SIDE} pixels a side")
            if getattr(image, "is_animated", False):
                image.seek(0)  # the first frame
            image.load()
            image = PIL.ImageOps.exif_transpose(image)
            return to_rgb(image)
    except StudioError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise StudioError(f"that image declares too many pixels; at most {MAX_PIXELS / 1e6:.0f} megapixels are accepted") from None
    except PIL.UnidentifiedImageError:
        raise StudioError("that file is not an image Pillow can read (PNG, JPEG, WebP, GIF, BMP, TIFF…)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, IndexError, TypeError, ZeroDivisionError) as e:
        raise StudioError(f"that image could not be decoded: it may be truncated or damaged ({type(e).__name__})") from None


def to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """8-bit RGB of any mode: 16/32-bit greyscale scaled by its range, CMYK and YCbCr converted,
    transparency (alpha, or a palette's transparent colour) flattened onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if image.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        arr = (arr - lo) / max(hi - lo, 1e-12) * 255
        image = PIL.Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
        background = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = PIL.Image.alpha_composite(background, image)
    return image.convert("RGB")
