"""The command line (python -m studio), run as a subprocess on the embedded model: NVIDIA's flag and
file names, the same pixels as the Python API, one line and a non-zero exit for bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, ROOT
from PIL import Image


def run(*args, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "STUDIO_PROGRESS": "0"})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def workspace():
    from studio import Studio
    return Studio().workspace("avataaars-64")


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_generate_writes_nvidias_files_with_the_apis_pixels(tmp_path, workspace):
    code, out, err = run("generate", "--network=avataaars-64", "--seeds=0-2,9", "--trunc=0.7", f"--outdir={tmp_path}")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["latents.npz", "seed0000.png", "seed0001.png", "seed0002.png", "seed0009.png"]
    *_, gallery = workspace.generate("0-2,9", 0.7)
    for seed, image in zip(gallery.seeds, gallery.images):
        assert np.array_equal(pixels(tmp_path / f"seed{seed:04d}.png"), np.asarray(image.convert("RGB")))
    with np.load(tmp_path / "latents.npz") as f:
        assert f["w"].shape == (4, workspace.num_ws, workspace.G.w_dim) and list(f["seeds"]) == [0, 1, 2, 9]
    # the latents go back in as gen_images.py --projected-w takes them
    code, _, err = run("generate", f"--projected-w={tmp_path / 'latents.npz'}", f"--outdir={tmp_path / 'again'}")
    assert code == 0, err
    assert np.array_equal(pixels(tmp_path / "again" / "proj03.png"), pixels(tmp_path / "seed0009.png"))


def test_mix_video_and_edit(tmp_path, workspace):
    code, _, err = run("mix", "--rows=1,2", "--cols=3,4,5", "--styles=0-3", "--trunc=0.7", f"--outdir={tmp_path}")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == sorted(["grid.png"] + [f"{r}-{c}.png" for r in (1, 2) for c in (3, 4, 5)])
    grid, _, _ = workspace.style_mix("1,2", "3,4,5", "custom", 0, 3, 0.7)
    assert np.array_equal(pixels(tmp_path / "grid.png"), np.asarray(grid.convert("RGB")))
    code, out, err = run("video", "--seeds=0-3", "--grid=2x1", "--w-frames=4", f"--output={tmp_path / 'lerp.mp4'}")
    assert code == 0 and (tmp_path / "lerp.mp4").stat().st_size > 1000 and "8 frames" in out, err
    code, out, err = run("edit", "--seeds=3", "--method=sefa", "--component=1", "--trunc=0.7", f"--outdir={tmp_path}")
    assert code == 0, err
    edit = workspace.direction(3, "SeFa", 1, None, 3.0, 0, -1, 0.7)
    assert np.array_equal(pixels(tmp_path / "seed0003-edit.png"), np.asarray(edit.strip.convert("RGB")))
    with np.load(tmp_path / "seed0003-edit.npz") as f:
        assert np.allclose(f["w"], edit.ws.numpy())


def test_project_writes_what_projector_py_writes(tmp_path, workspace):
    from editing.generate import load_latents
    target = tmp_path / "me.png"
    Image.open(os.path.join(FIXTURES, "..", "..", "checkpoints", "avataaars64", "samples_psi0.7.png")).crop(
        (0, 0, 64, 64)).save(target)
    code, out, err = run("project", f"--target={target}", "--num-steps=3", "--seed=303", f"--outdir={tmp_path / 'out'}")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["proj.mp4", "proj.png", "projected_w.npz", "target.png"]
    ws = load_latents(str(tmp_path / "out" / "projected_w.npz"), workspace.G)
    assert ws.shape == (1, workspace.num_ws, workspace.G.w_dim)     # NVIDIA's key w, [1, num_ws, w_dim]
    *_, last = workspace.project(str(target), "nvidia", 3, None, 303, time_limit=1e9)
    assert np.allclose(ws.numpy(), last.ws.numpy(), atol=1e-5)
    code, _, _ = run("project", f"--target={target}", "--num-steps=2", "--save-video=false", f"--outdir={tmp_path / 'nv'}")
    assert code == 0 and "proj.mp4" not in os.listdir(tmp_path / "nv")


def test_convert_through_the_cli(tmp_path):
    code, out, err = run("convert", os.path.join(FIXTURES, "ada-orig-32", "network.pkl"), str(tmp_path / "hf"))
    assert code == 0, err
    assert {"config.json", "README.md"} <= set(os.listdir(tmp_path / "hf"))


@pytest.mark.parametrize("args, message", [
    (["generat"], "invalid choice: 'generat'"),
    (["generate", "--seeds=0-x", "--outdir=/tmp/x"], "--seeds: cannot read '0-x'"),
    (["generate", "--trunc=abc", "--outdir=/tmp/x"], "argument --trunc: invalid float value"),
    (["generate", "--network=no spaces allowed/x y", "--outdir=/tmp/x"], "not a model of the list"),
    (["generate", "--network=no/such-model", "--outdir=/tmp/x"], "Hub"),
    (["generate", "--translate=0.3", "--outdir=/tmp/x"], "expected two numbers"),
    (["mix", "--rows=1", "--cols=2", "--styles=0,2,5", "--outdir=/tmp/x"], "--styles: a contiguous range"),
    (["video", "--seeds=0-3", "--grid=2x2", "--num-keyframes=3", "--output=/tmp/x.mp4"], "needs 12 seeds"),
    (["project", "--target=/no/such.png", "--outdir=/tmp/x"], "error: "),
    (["project", f"--target={os.path.join(ROOT, 'app.py')}", "--outdir=/tmp/x"], "not an image"),
    (["edit", "--method=paint", "--outdir=/tmp/x"], "--method: one of"),
    (["edit", "--method=text", "--outdir=/tmp/x"], "--method text needs --prompt"),
    (["generate"], "the following arguments are required: --outdir"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(args, message):
    code, out, err = run(*args)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, (code, err)
    assert "Traceback" not in err


def test_help_for_each_command():
    for command in ("generate", "mix", "video", "project", "edit"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "--outdir" in out or "--output" in out
