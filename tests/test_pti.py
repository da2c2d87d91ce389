"""Pivotal tuning (editing/pti.py)."""
import pytest
import torch

import stylegan
from companions.perceptual import offline_distance
from editing.generate import synthesize
from editing.latents import seeds_to_ws
from editing.pti import pti, pti_steps, tuned_copy


@pytest.fixture(scope="module")
def G():
    return stylegan.load("avataaars-64", device="cpu")


def photo_like(G):
    """A face the pivot cannot quite give: the model's seed 5 with a red square painted on."""
    img = synthesize(G, seeds_to_ws(G, [5], 0.7)).clone()
    img[:, 0, 10:22, 40:52], img[:, 1:, 10:22, 40:52] = 1.0, -1.0
    return img


def test_tuning_reconstructs_what_the_pivot_cannot_and_leaves_g_alone(G):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    target = photo_like(G)
    distance = offline_distance(64)
    result = pti(G, target, pivot="encoder", distance=distance, steps=40)
    first, last = result.history[0], result.history[-1]
    assert result.pivot == "encoder" and result.step == 40 and result.done
    assert last["psnr"] > first["psnr"] + 2, (first, last)
    assert result.G is not G and all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in result.G.parameters())
    assert torch.equal(result.G.mapping.fc0.weight, G.mapping.fc0.weight)   # only synthesis is tuned


def test_early_stop_and_stop(G):
    target = photo_like(G)
    ws = seeds_to_ws(G, [5], 0.7)
    states = list(pti_steps(G, target, ws, steps=50, distance=offline_distance(64), stop_distance=1e9))
    assert len(states) == 1 and states[0].done                     # already below: nothing tuned
    run = pti_steps(G, target, ws, steps=50, distance=offline_distance(64))
    assert [next(run).step for _ in range(2)] == [0, 1]
    run.close()
    with pytest.raises(StopIteration):
        next(run)


def test_a_tuned_copy_owns_its_weights(G):
    Gt = tuned_copy(G)
    with torch.no_grad():
        next(Gt.synthesis.parameters()).add_(1.0)
    assert not torch.equal(next(Gt.synthesis.parameters()), next(G.synthesis.parameters()))
