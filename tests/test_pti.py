"""Pivotal tuning (editing/pti.py)."""
import numpy as np
import pytest
import torch

import stylegan
from companions.perceptual import offline_distance
from editing.generate import synthesize
from editing.latents import seeds_to_ws
from editing.pti import pti, pti_steps, tuned_copy
from ops.images import to_pil


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


# --- PTI on the page: a projection recipe whose tuned generator stays with the result -----------

@pytest.fixture
def workspace(monkeypatch):
    from studio import Networks, ResultFiles, Studio
    monkeypatch.setenv("STUDIO_TUNED_KEEP", "2")
    return Studio(Networks(size=2), ResultFiles(sweep_every=0)).workspace("avataaars-64")


def _photo(G, tmp_path):
    from ops.images import to_pil
    path = str(tmp_path / "photo.png")
    to_pil(photo_like(G))[0].save(path)
    return path


def test_the_pti_recipe_keeps_its_generator_and_edits_of_the_result_use_it(workspace, tmp_path):
    from editing.generate import latents_tuned_key
    w = workspace
    assert "pti" in w.recipes()
    updates = list(w.project(_photo(w.G, tmp_path), "pti", 60, align=False))
    last = updates[-1]
    assert last.done and last.tuned and last.step == last.steps == 100 + 60   # hybrid's 100 pivot steps + 60
    assert [u.step for u in updates[:3]] == [1, 2, 3] and "pivot by hybrid" in last.note
    tuning = [h["psnr"] for h in last.history]
    assert tuning[-1] > tuning[0] + 0.3                # the tuning improves on its pivot (v3: 0.16 dB in 30 steps, 0.59 in 60)
    npz = w.save_latents(str(tmp_path / "projection.npz"), last.ws, tuned=last.tuned)
    assert latents_tuned_key(npz) == last.tuned
    start = w.start(latents=npz)
    assert start.G is not w.G and start.tuned == last.tuned
    with torch.no_grad():
        tuned_image = start.G.synthesis(start.ws, noise_mode="const")
        plain_image = w.G.synthesis(start.ws, noise_mode="const")
    assert not torch.allclose(tuned_image, plain_image, atol=1e-3)
    edit = w.direction(latents=npz, method="SeFa", index=0, strength=0.0)  # strength 0: the tuned image itself
    assert edit.tuned == last.tuned and "PTI-tuned" in edit.note
    dragged = list(w.drag("[[30, 30, 30, 30]]", latents=npz, steps=2))[-1]
    assert dragged.tuned == last.tuned
    # what the editing tabs show they act on: this projection, with its tuned generator's image
    thumb, note = w.current(latents=npz)
    assert note == "Acting on a projection (projection.npz), with its PTI-tuned generator."
    assert np.array_equal(np.asarray(thumb), np.asarray(to_pil(tuned_image)[0]))
    import shutil
    odd = tmp_path / "[a link](https:x)`.npz"
    shutil.copy(npz, odd)
    assert w.current_note(latents=str(odd)) == ("Acting on the latents in _a link__https_x__.npz, "
                                                "with its PTI-tuned generator.")  # a file name makes no Markdown
    thumb, note = w.current(seed=3, psi=0.5)
    assert note == "Acting on seed 3 (ψ 0.5)." and thumb.size == (64, 64)
    assert np.array_equal(np.asarray(thumb), np.asarray(to_pil(synthesize(w.G, w.start_latent(3, 0.5)))[0]))


def test_tuned_generators_are_bounded_and_forged_keys_find_nothing(workspace, tmp_path):
    from editing.generate import TUNED_KEY
    w = workspace
    ws = w.start_latent(3)
    keys = [w.keep_tuned(tuned_copy(w.G)) for _ in range(3)]    # STUDIO_TUNED_KEEP=2: the first is dropped
    assert len(set(keys)) == 3 and all(len(k) == 32 for k in keys)
    paths = []
    for i, key in enumerate(keys + ["0" * 32]):
        paths.append(w.save_latents(str(tmp_path / f"r{i}.npz"), ws, tuned=key))
    assert w.start(latents=paths[0]).G is w.G and "no longer kept" in w.start(latents=paths[0]).note
    assert w.start(latents=paths[1]).G is not w.G and w.start(latents=paths[2]).G is not w.G
    assert w.start(latents=paths[3]).G is w.G                   # a made-up key: the model itself
    odd = str(tmp_path / "odd.npz")
    np.savez(odd, w=ws.numpy(), **{TUNED_KEY: np.asarray("../../etc/passwd")})
    start = w.start(latents=odd)
    assert start.G is w.G and start.tuned is None and not start.note     # not a key: ignored


def test_a_tuned_generator_made_in_a_zerogpu_worker_comes_back_to_the_main_process(workspace):
    w = workspace
    known = w.analysis_keys()
    Gt = tuned_copy(w.G).requires_grad_(False)
    with torch.no_grad():
        next(Gt.synthesis.parameters()).add_(0.5)
    key = w.keep_tuned(Gt)
    handed = w.analyses_since(known)
    assert set(handed) == {("tuned", key)}
    w._tuned.clear()                                         # the main process never saw it
    w.keep_analyses(handed)
    again = w._tuned.peek(key)
    assert again is not None and again is not Gt
    assert all(torch.equal(a, b) for a, b in zip(again.synthesis.parameters(), Gt.synthesis.parameters()))
