"""FFHQ-style alignment (editing/align.py) on a real photo that a package ships: scikit-image's
`astronaut` (Eileen Collins, public domain, NASA)."""
import numpy as np
import PIL.Image
import pytest

from companions.align import Landmarks, NoFaceError, align_face, detect_landmarks, ffhq_quad, quad_to_output

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("facenet_pytorch")

SIZE = 256
# Where FFHQ's crop puts the eyes when the eye-to-eye distance sets the crop (2|e2e| > 1.8|e2m|):
# a quarter of the width apart about the centre, at (0.375, y) and (0.625, y), y = 0.5 - 0.1|e2m| / (4|e2e|).
TOLERANCE = 0.02 * SIZE   # eyes found again in the aligned image within 2% of its side (5 px at 256)


@pytest.fixture(scope="module")
def astronaut():
    return PIL.Image.fromarray(skimage_data.astronaut())


def test_the_geometry_of_the_crop():
    lm = Landmarks(np.array([100.0, 100.0]), np.array([140.0, 100.0]), np.array([105.0, 140.0]), np.array([135.0, 140.0]))
    quad = ffhq_quad(lm)
    left, right = quad_to_output(quad, SIZE, lm.eye_left), quad_to_output(quad, SIZE, lm.eye_right)
    # e2e = 40, e2m = 40: the crop is 4 * e2e = 160 px wide, centred 4 px below the eyes.
    assert np.allclose(left, [0.375 * SIZE, (0.5 - 0.1 / 4) * SIZE]) and np.allclose(right, [0.625 * SIZE, (0.5 - 0.025) * SIZE])
    assert np.isclose(np.hypot(*(quad[3] - quad[0])), 160)


def test_astronaut_eyes_land_where_ffhq_puts_them(astronaut):
    lm = detect_landmarks(astronaut)
    assert lm is not None and lm.score > 0.99
    quad = ffhq_quad(lm)
    aligned = align_face(astronaut, SIZE, lm)
    assert aligned.size == (SIZE, SIZE) and aligned.mode == "RGB"
    found = detect_landmarks(aligned)
    assert found is not None
    for eye, expected in ((found.eye_left, quad_to_output(quad, SIZE, lm.eye_left)),
                          (found.eye_right, quad_to_output(quad, SIZE, lm.eye_right))):
        assert np.hypot(*(eye - expected)) < TOLERANCE, (eye, expected)
    # And against FFHQ's nominal positions: x at 0.375 / 0.625, both at one height near 0.47.
    assert abs(found.eye_left[0] - 0.375 * SIZE) < TOLERANCE and abs(found.eye_right[0] - 0.625 * SIZE) < TOLERANCE
    assert abs(found.eye_left[1] - found.eye_right[1]) < TOLERANCE and abs(found.eye_left[1] - 0.47 * SIZE) < 0.03 * SIZE


def test_a_tilted_photo_comes_out_upright(astronaut):
    tilted = astronaut.rotate(25, resample=PIL.Image.BICUBIC, expand=True, fillcolor=(90, 90, 90))
    found = detect_landmarks(align_face(tilted, SIZE))
    assert found is not None and abs(found.eye_left[1] - found.eye_right[1]) < TOLERANCE
    assert abs(found.eye_left[0] - 0.375 * SIZE) < 2 * TOLERANCE


def test_a_face_near_the_border_is_padded_not_black(astronaut):
    corner = astronaut.crop((150, 40, 512, 512))  # the face close to the top-left corner
    out = np.asarray(align_face(corner, SIZE))
    assert (out.reshape(-1, 3).sum(axis=1) < 30).mean() < 0.05  # reflected and blurred, not black


def test_no_face_is_a_message():
    coffee = PIL.Image.fromarray(skimage_data.coffee())
    with pytest.raises(NoFaceError, match="no face was found"):
        align_face(coffee, 64)
    assert detect_landmarks(PIL.Image.new("RGB", (80, 80), (200, 30, 30))) is None
