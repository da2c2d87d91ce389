"""Visitors' images (studio/uploads.py): every kind of odd upload is read or refused with a message."""
import io
import struct
import zlib

import numpy as np
import PIL.Image
import psutil
import pytest

from studio import StudioError
from studio.uploads import MAX_PIXELS, read_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def declared_png(path, width, height, body=b""):
    """A tiny PNG whose header declares width x height (a decompression bomb's first bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(body))
                     + _png_chunk(b"IEND", b""))
    return path


def face(size=(96, 80), colour=(200, 120, 60)):
    img = PIL.Image.new("RGB", size, colour)
    img.paste((20, 20, 200), (10, 10, 30, 40))
    return img


def test_ordinary_images_come_back_as_rgb(tmp_path):
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF"):
        p = tmp_path / f"a.{fmt.lower()}"
        face().save(p, fmt)
        img = read_image(str(p))
        assert img.mode == "RGB" and img.size == (96, 80)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [PIL.Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = read_image(str(p))
    assert img.getpixel((5, 5))[0] > 200 and img.getpixel((5, 5))[1] < 50


def test_cmyk_16bit_greyscale_palette_and_alpha(tmp_path):
    p = tmp_path / "cmyk.jpg"
    face().convert("CMYK").save(p, "JPEG")
    assert read_image(str(p)).mode == "RGB"
    p = tmp_path / "grey16.png"
    PIL.Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(p)
    img = read_image(str(p))
    assert img.mode == "RGB" and img.getpixel((63, 63))[0] == round(4095 * 16 / 65535 * 255)
    p = tmp_path / "alpha.png"
    rgba = PIL.Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 32))
    rgba.save(p)
    img = read_image(str(p))
    assert img.getpixel((20, 5)) == (255, 255, 255) and img.getpixel((5, 5)) == (0, 0, 255)  # transparent -> white
    p = tmp_path / "palette.png"
    face().convert("P").save(p, transparency=0)
    assert read_image(str(p)).mode == "RGB"


def test_exif_orientation_is_honoured(tmp_path):
    img = face((90, 40))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "phone.jpg"
    img.save(p, "JPEG", exif=exif.tobytes())
    assert read_image(str(p)).size == (40, 90)


@pytest.mark.parametrize("name, data, message", [
    ("text.png", b"hello, I am not an image" * 10, "not an image"),
    ("empty.jpg", b"", "not an image"),
    ("script.png", b"<?php system($_GET['c']); ?>", "not an image"),
])
def test_not_an_image(tmp_path, name, data, message):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(StudioError, match=message):
        read_image(str(p))


def test_truncated_image(tmp_path):
    buf = io.BytesIO()
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(StudioError, match="truncated or damaged"):
        read_image(str(p))


def test_tiny_image(tmp_path):
    p = tmp_path / "tiny.png"
    PIL.Image.new("RGB", (8, 8)).save(p)
    with pytest.raises(StudioError, match="at least 16 pixels"):
        read_image(str(p))


@pytest.mark.parametrize("w, h", [(8000, 6250), (100_000, 100_000), (1, 2**31 - 1)])
def test_huge_declared_images_are_refused_from_the_header(tmp_path, w, h):
    """50 megapixels (and a 10-gigapixel bomb) are refused before a pixel is decoded."""
    p = declared_png(tmp_path / "big.png", w, h)
    rss = psutil.Process().memory_info().rss
    with pytest.raises(StudioError, match="megapixels|pixels a side|too many pixels"):
        read_image(str(p))
    assert psutil.Process().memory_info().rss - rss < 32 << 20
    assert w * h > MAX_PIXELS or min(w, h) < 16


def test_a_file_too_large_is_refused_unread(tmp_path):
    p = tmp_path / "huge.jpg"
    with open(p, "wb") as f:  # sparse: 200 MB that take no disk
        f.truncate(200 << 20)
    with pytest.raises(StudioError, match="200 MB"):
        read_image(str(p))


def test_no_upload_and_a_vanished_upload():
    with pytest.raises(StudioError, match="upload an image"):
        read_image(None)
    with pytest.raises(StudioError, match="could not be read") as e:
        read_image("/etc/definitely/not/here.png")
    assert "/etc" not in str(e.value)
