"""The dataset builder: labelled, deterministic renders whose labels match the pixels."""
import numpy as np
import pytest

pytest.importorskip("py_avataaars")
pytest.importorskip("cairosvg")

from training import avatars  # noqa: E402


def base_face(**overrides):
    """A plain face: short hair, no glasses, no beard; overrides by class name."""
    names = dict(skin_color="LIGHT", top_type="SHORT_HAIR_SHORT_FLAT", hair_color="BROWN", hat_color="BLACK",
                 accessories_type="DEFAULT", facial_hair_type="DEFAULT", facial_hair_color="BLACK",
                 mouth_type="DEFAULT", eye_type="DEFAULT", eyebrow_type="DEFAULT", clothe_type="HOODIE",
                 clothe_color="BLUE_01", clothe_graphic_type="BAT")
    names.update(overrides)
    return {a: avatars.attribute_classes(a).index(v) for a, v in names.items()}


def hex_rgb(h):
    return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)])


def test_render_is_a_64px_rgb_face_on_the_background():
    img = avatars.render(base_face())
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert np.abs(img[1, 1].astype(int) - hex_rgb(avatars.BACKGROUND)).max() <= 1  # corner: background
    assert img.std() > 30  # and a drawing in the middle


@pytest.mark.parametrize("skin", ["PALE", "BLACK", "TANNED", "DARK_BROWN"])
def test_skin_label_is_the_skin_colour_on_the_cheek(skin):
    import py_avataaars
    img = avatars.render(base_face(skin_color=skin))
    cheek = img[40, 22].astype(int)  # left cheek, below the eye
    assert np.abs(cheek - hex_rgb(py_avataaars.SkinColor[skin].main_value)).max() <= 12, cheek


def test_accessory_label_changes_the_eyes_only():
    plain = avatars.render(base_face()).astype(int)
    glasses = avatars.render(base_face(accessories_type="SUNGLASSES")).astype(int)
    changed = np.abs(plain - glasses).max(axis=2) > 20
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 50
    assert 18 <= ys.min() and ys.max() <= 40  # a band around the eyes, nothing at the top or the collar


def test_make_face_is_deterministic_and_varied():
    a_img, a_lab = avatars.make_face(0, 7)
    b_img, b_lab = avatars.make_face(0, 7)
    assert np.array_equal(a_img, b_img) and a_lab == b_lab
    c_img, _ = avatars.make_face(0, 8)
    d_img, _ = avatars.make_face(1, 7)
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_img, d_img)


def test_sampling_is_natural_and_hidden_attributes_are_minus_one():
    rng = np.random.default_rng(0)
    draws = [avatars.sample_attributes(rng) for _ in range(3000)]
    classes = {a: avatars.attribute_classes(a) for a in avatars.ATTRIBUTES}
    no_glasses = np.mean([d["accessories_type"] == classes["accessories_type"].index("DEFAULT") for d in draws])
    assert 0.72 < no_glasses < 0.84  # most faces wear no glasses (uniform sampling: 1 in 7)
    no_beard = np.mean([d["facial_hair_type"] == 0 for d in draws])
    assert no_beard > 0.7
    for d in draws:
        top = classes["top_type"][d["top_type"]]
        assert (d["hair_color"] == -1) == (top not in avatars.COLOURED_HAIR_TOPS)
        assert (d["hat_color"] == -1) == (top not in avatars.HAT_TOPS)
        assert (d["facial_hair_color"] == -1) == (d["facial_hair_type"] == 0)
        for a, v in d.items():
            assert -1 <= v < len(classes[a])
    # every value of the visible attributes occurs
    for a in ("skin_color", "mouth_type", "eye_type", "clothe_type"):
        assert {d[a] for d in draws} == set(range(len(classes[a])))


def test_build_writes_resumable_shards_and_load_split_reads_them(tmp_path, monkeypatch):
    monkeypatch.setattr(avatars, "SHARD_SIZE", 3)
    avatars.build(tmp_path, n_train=5, n_heldout=2, seed=3, workers=1, progress=False)
    names = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert names == ["heldout-00000.npz", "train-00000.npz", "train-00001.npz"]
    images, labels = avatars.load_split(tmp_path, "train")
    assert images.shape == (5, 64, 64, 3)
    img4, lab4 = avatars.make_face(3, 4)
    assert np.array_equal(images[4], img4)
    assert all(labels[a][4] == lab4[a] for a in avatars.ATTRIBUTES)
    held, _ = avatars.load_split(tmp_path, "heldout")
    assert np.array_equal(held[0], avatars.make_face(3, avatars.SPLITS["heldout"])[0])
    # resuming keeps finished shards; other settings in the same folder are refused
    mtime = (tmp_path / "train-00000.npz").stat().st_mtime_ns
    (tmp_path / "train-00001.npz").unlink()
    avatars.build(tmp_path, n_train=5, n_heldout=2, seed=3, workers=1, progress=False)
    assert (tmp_path / "train-00000.npz").stat().st_mtime_ns == mtime
    assert np.array_equal(avatars.load_split(tmp_path, "train")[0], images)
    with pytest.raises(SystemExit):
        avatars.build(tmp_path, n_train=5, n_heldout=2, seed=4, workers=1, progress=False)


def test_a_twin_differs_in_one_attribute_and_what_depends_on_it():
    seen = set()
    dependents = {"top_type": {"hair_color", "hat_color"}, "facial_hair_type": {"facial_hair_color"}}
    for i in range(400):
        labels = avatars.sample_attributes(np.random.default_rng([0, i]))
        twin, changed = avatars.twin_attributes(labels, np.random.default_rng([0, i, 1]))
        differ = {a for a in avatars.ATTRIBUTES if labels[a] != twin[a]}
        assert changed in differ and differ <= {changed} | dependents.get(changed, set())
        top = avatars.attribute_classes("top_type")[twin["top_type"]]
        assert (twin["hair_color"] >= 0) == (top in avatars.COLOURED_HAIR_TOPS)
        assert (twin["hat_color"] >= 0) == (top in avatars.HAT_TOPS)
        beard = avatars.attribute_classes("facial_hair_type")[twin["facial_hair_type"]] != "DEFAULT"
        assert (twin["facial_hair_color"] >= 0) == beard
        seen.add(changed)
    assert seen == set(avatars.TWIN_ATTRIBUTES)


def test_twins_are_built_beside_their_faces_and_captioned_in_step(tmp_path, monkeypatch):
    from training.captions import caption
    monkeypatch.setattr(avatars, "SHARD_SIZE", 3)
    avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False, n_twins=4)
    images, labels = avatars.load_split(tmp_path, "train")
    twins, twin_labels = avatars.load_split(tmp_path, "twins")
    assert twins.shape == (4, 64, 64, 3) and list(twin_labels["base"]) == [0, 1, 2, 3]
    for j in range(4):
        img, lab, changed = avatars.make_twin(3, j)
        assert np.array_equal(twins[j], img) and avatars.ATTRIBUTES[twin_labels["changed"][j]] == changed
        assert not np.array_equal(twins[j], images[j])  # a visible change
        a = caption({k: labels[k][j] for k in avatars.ATTRIBUTES}, np.random.default_rng(j), must=changed)
        b = caption({k: lab[k] for k in avatars.ATTRIBUTES}, np.random.default_rng(j), must=changed)
        assert len(a.split(", ")) == len(b.split(", "))  # the same phrases but the changed attribute's
    with pytest.raises(ValueError):
        avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False, n_twins=5)


def test_a_pose_moves_and_scales_the_face_by_what_it_says():
    face = base_face()
    centred = avatars.render(face, (0.0, 0.0, 1.0)).astype(int)
    assert np.abs(centred - avatars.render(face).astype(int)).mean() < 1.5  # the same crop, resampled apart
    for dx, dy in ((4, 0), (0, -3), (-5, 2)):
        moved = avatars.render(face, (float(dx), float(dy), 1.0)).astype(int)
        shifted = np.roll(centred, (dy, dx), axis=(0, 1))
        inner = (slice(8, 56), slice(8, 56))  # away from what the roll wraps around
        assert np.abs(moved[inner] - shifted[inner]).mean() < 2, (dx, dy)
        assert np.abs(moved[inner] - centred[inner]).mean() > 10
    # scaled about the centre: the face's width (non-background columns at the eyes' row) grows by s
    bg = hex_rgb(avatars.BACKGROUND)

    def width(img):
        row = np.abs(img[30] - bg).max(axis=1) > 20
        return np.ptp(np.nonzero(row)[0])
    big = avatars.render(face, (0.0, 0.0, 1.12)).astype(int)
    assert abs(width(big) / width(centred) - 1.12) < 0.06


def test_jitter_poses_the_same_faces_and_is_stored(tmp_path, monkeypatch):
    img, lab = avatars.make_face(0, 7, jitter=6)
    assert {a: lab[a] for a in avatars.ATTRIBUTES} == avatars.make_face(0, 7)[1]  # the same face, posed
    dx, dy, s = lab["pose"]
    assert abs(dx) <= 6 and abs(dy) <= 6 and 1 / avatars.POSE_SCALE <= s <= avatars.POSE_SCALE
    assert np.array_equal(img, avatars.render(avatars.make_face(0, 7)[1], lab["pose"]))
    poses = np.array([avatars.sample_pose(np.random.default_rng([0, i, 2]), 6) for i in range(500)])
    assert poses[:, 0].min() < -5 and poses[:, 0].max() > 5 and poses[:, 2].std() > 0.04
    monkeypatch.setattr(avatars, "SHARD_SIZE", 3)
    avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False, n_twins=2, jitter=6)
    images, labels = avatars.load_split(tmp_path, "train")
    assert labels["pose"].shape == (4, 3) and np.array_equal(images[2], avatars.make_face(3, 2, jitter=6)[0])
    twins, twin_labels = avatars.load_split(tmp_path, "twins")
    assert np.allclose(twin_labels["pose"], labels["pose"][:2])  # a twin keeps its face's pose
    with pytest.raises(SystemExit):  # a posed dataset is other settings
        avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False)


def changed_box(still, moved):
    """The bounding box (rows, columns) of the pixels where two renders differ."""
    ys, xs = np.nonzero(np.abs(moved - still).max(axis=2) > 8)
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


@pytest.mark.parametrize("part, dx, dy, rows", [("mouth", 0, 3, (36, 52)), ("mouth", -1, -2, (36, 52)),
                                                 ("eyes", 0, 2, (18, 36)), ("eyebrows", 0, -2, (16, 30))])
def test_a_part_offset_moves_that_part_alone_by_what_it_says(part, dx, dy, rows):
    face = base_face()
    still = avatars.render(face).astype(int)
    assert np.array_equal(avatars.render(face, parts={}), avatars.render(face))  # no offsets: the same render
    moved = avatars.render(face, parts={part: (float(dx), float(dy))}).astype(int)
    box = changed_box(still, moved)
    assert rows[0] <= box[0].start and box[0].stop - 1 <= rows[1], box  # only that part's rows change
    shifted = np.roll(still, (dy, dx), axis=(0, 1))
    assert np.abs(moved[box] - shifted[box]).mean() < 2.5                  # the part, moved by (dx, dy)
    assert np.abs(moved[box] - still[box]).mean() > 20


def moved_box(still, moved):
    """The box of the pixels that changed, and how far moved is there from still and from still
    shifted by each candidate (dy) row offset."""
    box = changed_box(still, moved)
    return box, {dy: np.abs(moved[box] - np.roll(still, dy, axis=0)[box]).mean() for dy in range(-1, 5)}


@pytest.mark.parametrize("extra, part, dy", [("accessories_type", "eyes", 2), ("facial_hair_type", "mouth", 3)])
def test_glasses_ride_on_the_eyes_and_a_moustache_on_the_mouth(extra, part, dy):
    face = base_face(**{extra: "ROUND" if part == "eyes" else "MOUSTACHE_FANCY"})
    still = avatars.render(face).astype(int)
    moved = avatars.render(face, parts={part: (0.0, float(dy))}).astype(int)
    _, error = moved_box(still, moved)
    assert min(error, key=error.get) == dy and error[dy] < 0.25 * error[0], error  # best explained as moved by dy


def test_parts_move_the_same_faces_and_are_stored(tmp_path, monkeypatch):
    img, lab = avatars.make_face(0, 7, jitter=6, parts=True)
    plain = avatars.make_face(0, 7)[1]
    assert {a: lab[a] for a in avatars.ATTRIBUTES} == plain and lab["pose"] == avatars.make_face(0, 7, jitter=6)[1]["pose"]
    assert np.array_equal(img, avatars.render(plain, lab["pose"], avatars.parts_dict(lab["parts"])))
    offsets = np.array([avatars.sample_parts(np.random.default_rng([0, i, 3])) for i in range(500)])
    bounds = np.array([r for part in avatars.PARTS for r in avatars.PART_JITTER[part]])
    assert (np.abs(offsets) <= bounds).all() and (offsets.max(0) > 0.9 * bounds).all() and (offsets.min(0) < -0.9 * bounds).all()
    monkeypatch.setattr(avatars, "SHARD_SIZE", 3)
    avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False, n_twins=2, parts=True)
    images, labels = avatars.load_split(tmp_path, "train")
    assert labels["parts"].shape == (4, 6) and "pose" not in labels
    assert np.array_equal(images[2], avatars.make_face(3, 2, parts=True)[0])
    _, twin_labels = avatars.load_split(tmp_path, "twins")
    assert np.allclose(twin_labels["parts"], labels["parts"][:2])  # a twin keeps its face's geometry
    with pytest.raises(SystemExit):  # a dataset with moving parts is other settings
        avatars.build(tmp_path, n_train=4, n_heldout=1, seed=3, workers=1, progress=False)
