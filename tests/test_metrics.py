"""The quality numbers: Frechet distance against its closed form, ~0 for identical sets and
large for noise; total-variation distance; the attribute classifier learns labels it can see."""
import numpy as np
import pytest
import torch

from companions.classifier import AttributeClassifier, with_none
from metrics.frechet import compare, feature_distance, frechet_distance, gaussian, tv_distance
from training.train_classifier import accuracy, train_classifier


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)  # standard deviations
    expect = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(expect, rel=1e-9)


def test_frechet_distance_is_rotation_invariant_and_zero_for_identical_sets():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    assert abs(feature_distance(a, a)) < 1e-6
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    b = rng.normal(size=(2000, 8)) * 2 + 1
    assert feature_distance(a @ q, b @ q) == pytest.approx(feature_distance(a, b), rel=1e-6)
    mu, sigma = gaussian(a)
    assert np.allclose(mu, a.mean(0)) and np.allclose(sigma, np.cov(a.T))


def test_tv_distance():
    assert tv_distance(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 3) == 0
    assert tv_distance(np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1]), 3) == 1
    assert tv_distance(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3) == pytest.approx(0.25)


def squares(n, seed):
    """16x16 images with a square whose colour (3 classes) and side (2 classes, or hidden) are labels."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 30, 30], [30, 200, 30], [30, 30, 220]])
    img = np.full((n, 16, 16, 3), 128, np.uint8)
    colour = rng.integers(0, 3, n)
    side = rng.integers(-1, 2, n)  # -1: no square drawn in the corner (the attribute does not show)
    for i in range(n):
        img[i, 4:12, 4:12] = colours[colour[i]]
        if side[i] >= 0:
            img[i, 0:4, 12 * side[i]:12 * side[i] + 4] = 255
    return img, {"colour": colour, "corner": side}


@pytest.fixture(scope="module")
def toy_classifier():
    images, labels = squares(600, 0)
    return train_classifier(images, labels, {"colour": ["r", "g", "b"], "corner": ["left", "right"]},
                            epochs=3, batch_size=32, lr=3e-3, progress=False)


def test_classifier_learns_visible_attributes_and_the_none_class(toy_classifier):
    images, labels = squares(300, 1)
    acc = accuracy(toy_classifier, images, labels)
    assert acc["colour"] > 0.95 and acc["corner"] > 0.9, acc
    assert list(with_none(labels, toy_classifier.attributes)["corner"][labels["corner"] < 0]) == \
        [2] * int((labels["corner"] < 0).sum())


def test_classifier_round_trips_through_save_pretrained(toy_classifier, tmp_path):
    from companions.classifier import load
    toy_classifier.save_pretrained(tmp_path)
    again = load(tmp_path)
    images, _ = squares(20, 2)
    f1, p1 = toy_classifier.predict(images)
    f2, p2 = again.predict(images)
    assert np.allclose(f1, f2) and all(np.array_equal(p1[a], p2[a]) for a in p1)
    assert isinstance(again, AttributeClassifier) and again.attributes == toy_classifier.attributes


def test_fine_tuning_starts_from_the_given_classifier(toy_classifier):
    """--init: the copy starts at the given weights (a near-zero learning rate keeps its accuracy;
    from random weights the same run learns nothing), and leaves the given classifier alone."""
    images, labels = squares(64, 6)
    before = {k: v.clone() for k, v in toy_classifier.state_dict().items()}
    tuned = train_classifier(images, labels, toy_classifier.attributes, epochs=1, batch_size=32, lr=1e-9,
                             progress=False, init=toy_classifier)
    fresh = train_classifier(images, labels, toy_classifier.attributes, epochs=1, batch_size=32, lr=1e-9,
                             progress=False)
    test_images, test_labels = squares(300, 7)
    assert accuracy(tuned, test_images, test_labels)["colour"] > 0.95
    assert accuracy(fresh, test_images, test_labels)["colour"] < 0.7
    assert all(torch.equal(before[k], v) for k, v in toy_classifier.state_dict().items())
    with pytest.raises(ValueError, match="other attributes"):
        train_classifier(images, labels, {"colour": ["r", "g"]}, epochs=1, batch_size=32, progress=False,
                         init=toy_classifier)


def test_compare_is_near_zero_for_the_same_set_and_large_for_noise(toy_classifier):
    real_a, _ = squares(400, 3)
    real_b, _ = squares(400, 4)
    noise = np.random.default_rng(5).integers(0, 256, real_a.shape, dtype=np.uint8)
    same = compare(toy_classifier, real_a, real_a)
    floor = compare(toy_classifier, real_a, real_b)
    bad = compare(toy_classifier, real_a, noise)
    # ~0: these toy features are low-rank, so sqrtm is only good to ~1e-5 of the scale
    assert abs(same["fd"]) < 1e-4 * bad["fd"] and abs(same["fd"]) < floor["fd"] and same["tv_mean"] == 0
    assert bad["fd"] > 20 * max(floor["fd"], 1e-3), (floor["fd"], bad["fd"])
    assert bad["tv_mean"] > 3 * floor["tv_mean"] + 0.05


def test_coverage_counts_what_the_labels_and_the_classifier_say():
    import torch

    from metrics.coverage import NAMED, label_shares, read_shares
    from training.avatars import attribute_classes
    n = 200
    labels = {a: np.zeros(n, np.int64) for a, _ in NAMED.values()}
    pink = attribute_classes("hair_color").index("PASTEL_PINK")
    labels["hair_color"][:30] = pink                          # 15% pink
    labels["accessories_type"][:10] = attribute_classes("accessories_type").index("KURT")  # 5% sunglasses
    shares = label_shares(labels)
    assert shares["pink hair"] == 0.15 and shares["sunglasses"] == 0.05 and shares["closed eyes"] == 0.0

    class Fixed(torch.nn.Module):  # reads image i as pink-haired where its first pixel is > 0
        attributes = {a: attribute_classes(a) for a, _ in NAMED.values()}

        def forward(self, x):
            out = {a: torch.zeros(len(x), len(c)) for a, c in self.attributes.items()}
            out["hair_color"][:, pink] = torch.where(x[:, 0, 0, 0] > 0, 10.0, -10.0)
            return out
    images = -torch.ones(600, 3, 4, 4)
    images[:150, 0, 0, 0] = 1.0                               # a quarter, across batches of 250
    read = read_shares(Fixed(), images)
    assert read["pink hair"] == 0.25 and read["sunglasses"] == 0.0


def test_class_weights_make_the_mean_weight_one_and_raise_the_rare_classes():
    from training.train_classifier import class_weights
    targets = np.array([0] * 90 + [1] * 10)  # class 2 never appears
    w = class_weights(targets, 3, power=0.5)
    share = np.array([0.9, 0.1, 0.0])
    assert abs(float((w.numpy() * share).sum()) - 1) < 1e-6 and float(w[2]) == 0
    assert abs(float(w[1] / w[0]) - 3.0) < 1e-5  # (0.1 / 0.9) ** -0.5
    assert torch.allclose(class_weights(targets, 3, power=0.0)[:2], torch.ones(2))


def test_reweighting_raises_the_recall_of_a_rare_class_that_looks_like_a_common_one():
    """Two greys 30 levels apart, each image's brightness off by noise of sd 20, one image in
    twenty of the darker: the Bayes rule for those priors reads about one dark image in nine as
    dark; weighting by share ** -1 moves the boundary to the middle (recall about 0.77)."""
    from training.train_classifier import recall

    def greys(n, seed):
        rng = np.random.default_rng(seed)
        rare = (rng.random(n) < 0.05).astype(np.int64)
        level = 128 - 30 * rare + rng.normal(0, 20, n)
        img = (level[:, None, None, None] + rng.normal(0, 4, (n, 16, 16, 3))).clip(0, 255)
        return img.astype(np.uint8), {"grey": rare}

    images, labels = greys(1200, 0)
    attrs = {"grey": ["light", "dark"]}
    plain = train_classifier(images, labels, attrs, epochs=6, batch_size=64, lr=1e-2, progress=False)
    weighted = train_classifier(images, labels, attrs, epochs=6, batch_size=64, lr=1e-2, progress=False,
                                reweight=["grey"], power=1.0)
    test_images, test_labels = greys(2000, 1)
    r_plain = recall(plain, test_images, test_labels, ["grey"])["grey"]["dark"]
    r_weighted = recall(weighted, test_images, test_labels, ["grey"])["grey"]["dark"]
    assert r_weighted["recall"] > r_plain["recall"] + 0.2, (r_plain, r_weighted)
    assert abs(r_plain["labelled"] - r_weighted["labelled"]) < 1e-9
    with pytest.raises(ValueError, match="no such attribute"):
        train_classifier(images, labels, attrs, epochs=1, progress=False, reweight=["colour"])
