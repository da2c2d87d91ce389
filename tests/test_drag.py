"""Drag to edit (editing/drag.py): motion supervision and point tracking."""
import os

import pytest
import torch
from conftest import FIXTURES

import stylegan
from editing.drag import _Features, defaults, drag, drag_steps, feature_layer, track
from editing.latents import seeds_to_ws


@pytest.fixture(scope="module")
def G():
    return stylegan.load("avataaars-64", device="cpu")


def test_defaults_scale_the_papers_values(G):
    o = defaults(G)
    assert (o.r1, o.r2, o.num_optimized, o.feature_resolution) == (1.0, 2, 3, 16)
    assert o.lr == pytest.approx(2e-3 * 512 / 64)
    assert feature_layer(G, 16) == "b16"


def test_a_target_on_its_handle_changes_nothing(G):
    ws = seeds_to_ws(G, [1], 0.7)
    result = drag(G, ws, [(30, 30)], [(30, 30)])
    assert result.steps == 0 and torch.equal(result.ws, ws) and result.handles == [[30.0, 30.0]]


def test_handles_reach_their_targets(G):
    ws = seeds_to_ws(G, [1], 0.7)
    result = drag(G, ws, [(32, 40)], [(38, 40)], steps=80)
    assert result.distance <= 1.0 and result.steps < 80
    assert torch.equal(result.ws[:, 3:], ws[:, 3:])                   # only the first ws move
    assert (result.ws[:, :3] - ws[:, :3]).abs().max() > 0


def test_the_mask_keeps_the_rest_still(G):
    ws = seeds_to_ws(G, [1], 0.7)
    mask = torch.zeros(64, 64)
    mask[30:50, 26:46] = 1
    feats = _Features(G, feature_layer(G, 16))
    with torch.no_grad():
        _, before = feats(ws, "const")
    change = {}
    for name, m in (("free", None), ("masked", mask)):
        result = drag(G, ws, [(32, 40)], [(38, 40)], mask=m, steps=30)
        with torch.no_grad():
            _, after = feats(result.ws, "const")
        change[name] = float(((after - before).abs() * (1 - mask)).mean())
    assert change["masked"] < 0.5 * change["free"], change


def test_stopping_the_iteration_stops(G):
    ws = seeds_to_ws(G, [2], 0.7)
    run = drag_steps(G, ws, [(32, 40)], [(50, 40)], steps=100)
    states = [next(run) for _ in range(3)]
    run.close()
    assert [s.step for s in states] == [0, 1, 2]
    with pytest.raises(StopIteration):
        next(run)


def test_tracking_follows_a_known_shift():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 8, 40, 40, generator=g)
    handles = torch.tensor([[20.0, 18.0], [10.0, 25.0]])
    reference = feats[0, :, handles[:, 1].long(), handles[:, 0].long()].T
    moved = torch.roll(feats, shifts=(2, -3), dims=(2, 3))             # down 2, left 3
    assert torch.equal(track(moved, reference, handles, 4), handles + torch.tensor([-3.0, 2.0]))


def test_stylegan3_and_bad_points():
    G3 = stylegan.load(os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), device="cpu")
    ws = seeds_to_ws(G3, [0], 0.7)
    result = drag(G3, ws, [(10, 12)], [(14, 12)], steps=3)
    assert result.images.shape == (1, 3, 32, 32) and result.steps <= 3
    with pytest.raises(ValueError, match="pixel coordinates from 0 to 31"):
        drag(G3, ws, [(10, 40)], [(14, 12)])
    with pytest.raises(ValueError, match="one target for each handle"):
        drag(G3, ws, [(10, 10), (3, 3)], [(14, 12)])


def test_the_drag_tab_in_the_studio():
    from studio import Studio, StudioError
    w = Studio().workspace("avataaars-64")
    updates = list(w.drag("[[32, 40, 36, 40]]", seed=1, steps=40))
    last = updates[-1]
    assert last.done and last.ws.shape == (1, w.num_ws, w.G.w_dim) and last.image.size == (256, 256)
    assert "farthest handle" in last.note
    assert w.drag_task.add_point("[]", 130, 162) == "[[32, 40]]"
    assert w.drag_task.add_point("[[32, 40]]", 146, 160) == "[[32, 40, 36, 40]]"
    assert w.drag_task.canvas(1, points="[[32, 40, 36, 40], [10, 10]]").size == (256, 256)
    for points, message in (("", "click a handle"), ("[[1, 2, 3]]", "each pair"), ("{", "JSON list"),
                            ("[[1, 2, 300, 4]]", "pixel coordinates from 0 to 63"),
                            (str([[1, 1, 2, 2]] * 17), "at most 16"), ('[["a", 1, 2, 3]]', "point coordinate")):
        with pytest.raises(StudioError, match=message):
            list(w.drag(points, seed=1))
    with pytest.raises(StudioError, match="steps must be"):
        list(w.drag("[[1, 1, 2, 2]]", steps=5000))
