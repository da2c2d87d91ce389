"""ZeroGPU: only the handlers that use the GPU are decorated, each with a duration from its own
arguments; a call runs in a forked worker (tests/fake_zerogpu stands in for `spaces` there) and
what it computes for the model comes back to the main process; the real `spaces` package, a
no-op off ZeroGPU, leaves the app as it is."""
import json
import os
import subprocess
import sys

from conftest import ROOT

FAKE = os.path.join(ROOT, "tests", "fake_zerogpu")

GPU_HANDLERS = {"generate", "generate_seeds", "style_mix", "interpolate", "direction", "stylespace", "project",
                "text_edit", "drag", "drag_start", "current_latent", "look_inside", "morph", "expression_transfer",
                "crossover"}

SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import spaces
import app
CALLS = getattr(spaces, "CALLS", [])
out = {"decorated": sorted(getattr(spaces, "DECORATED", {})), "durations": sorted(app.gpu_calls.durations),
       "uses_spaces": app.SPACES_GPU is spaces.GPU}
model = ("avataaars-64", "", None)
app.model_info(*model)
app.preset_layers(*model, "coarse")
out["page_load_note"] = app.current_note(*model, 0, 0.7, 0, None)[1]
out["calls_after_page_load"] = list(CALLS)
w = app.studio.workspace(*model)
before = w.analysis_keys()
strip, npz, note = app.direction(*model, 1, "SeFa", 2, None, 3, 0, w.num_ws - 1, 0.7, 0, None)
out["direction_note"] = note
out["new_analyses"] = sorted(map(str, w.analysis_keys() - before))
app.direction(*model, 2, "GANSpace", 0, None, 3, 0, w.num_ws - 1, 0.7, 0, None)
out["after_ganspace"] = sorted(map(str, w.analysis_keys() - before))
updates = list(app.project(*model, sys.argv[2], False, "encoder", 0, 0, False))
out["project_outputs"] = len(updates[-1])
try:
    list(app.project(*model, None, False, "encoder", 0, 0, False))
except Exception as e:
    out["missing_image"] = f"{type(e).__name__}: {e}"
image, points, mask, note, base = app.drag_start(*model, 3, 0.7, 0, None)
class Click:
    index = (130, 162)
calls_before_click = len(CALLS)
drawn, points = app.add_point(*model, "[]", base, Click())
out["click_calls"] = len(CALLS) - calls_before_click
out["click_points"] = points
out["calls"] = CALLS
out["forked"] = app.gpu_calls.forked
out["project_1000_steps_s"] = app.project_seconds(*model, None, False, "nvidia", 1000, 0, False)
out["project_hybrid_s"] = app.project_seconds(*model, None, False, "hybrid", 0, 0, True)
out["gallery_s"] = app.gallery_seconds(*model, "0-63")
out["bad_seeds_s"] = app.gallery_seconds(*model, "nonsense")
print("RESULT" + json.dumps(out))
"""


def run(tmp_path, *paths, zero_gpu=True):
    import numpy as np
    import PIL.Image
    photo = str(tmp_path / "photo.png")
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(photo)
    # One CPU thread: a process forked while OpenMP/BLAS thread pools exist can hang in its first
    # LAPACK call (SeFa's eigh). ZeroGPU's workers compute on the GPU; the stand-in's on the CPU.
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=ROOT,
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               SPACES_ZERO_GPU="true" if zero_gpu else "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *paths, photo], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(line[0][len("RESULT"):])


def test_zerogpu_decorates_only_gpu_work_and_keeps_caches_in_the_main_process(tmp_path):
    out = run(tmp_path, FAKE)
    assert set(out["decorated"]) == GPU_HANDLERS == set(out["durations"]) and out["forked"]
    assert out["calls_after_page_load"] == []                      # model info and presets spend no quota
    assert "SeFa component 2" in out["direction_note"]
    assert any("sefa" in k for k in out["new_analyses"])          # computed in the worker, kept here
    assert any("ganspace" in k for k in out["after_ganspace"])
    assert out["project_outputs"] == 11
    assert out["page_load_note"] == "Acting on seed 0 (ψ 0.7)."         # the note on load, without a GPU call
    assert out["click_calls"] == 0 and out["click_points"] == "[[32, 40]]"  # a click draws, the model does not run
    assert out["missing_image"].startswith("Error: ") and "image" in out["missing_image"]  # our message, from the worker
    assert [name for name, _ in out["calls"]] == ["direction", "direction", "project", "project", "drag_start"]
    # durations follow the work: 1000 steps ask for more than hybrid's 100; 64 images for more than 1
    assert out["project_1000_steps_s"] > out["project_hybrid_s"] > 0
    assert out["gallery_s"] > out["bad_seeds_s"] > 0


def test_the_real_spaces_package_changes_nothing_off_zerogpu(tmp_path):
    import pytest
    pytest.importorskip("spaces")
    out = run(tmp_path, os.path.join(ROOT, "tests"), zero_gpu=False)  # the installed `spaces`, not the stand-in
    assert out["uses_spaces"] and out["decorated"] == []
    assert set(out["durations"]) == GPU_HANDLERS
    assert any("sefa" in k for k in out["new_analyses"])
