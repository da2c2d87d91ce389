"""The command line (python -m studio), run as a subprocess on the embedded model: NVIDIA's flag and
file names, the same pixels as the Python API, one line and a non-zero exit for bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, ROOT
from PIL import Image


def run(*args, timeout=600, env=None):
    proc = subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env or {**os.environ, "STUDIO_PROGRESS": "0"})
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


def test_convert_push_uploads_to_the_hub_stand_in_and_the_upload_loads(tmp_path):
    """--push through huggingface_hub's real upload code (create_repo, upload_folder) against the
    local stand-in; the pushed repo then loads by its Hub id and draws what the folder draws."""
    import hashlib

    from hub_server import FakeHub

    import stylegan
    from editing.generate import generate_images
    hub = FakeHub()
    url = hub.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=url, HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN="hf_stand_in_token", STUDIO_PROGRESS="0",
               HF_HUB_DISABLE_TELEMETRY="1")
    try:
        source = os.path.join(FIXTURES, "ada-orig-32", "network.pkl")
        code, out, err = run("convert", source, str(tmp_path / "hf"), "--push", "me/ada-32", env=env)
        assert code == 0 and "uploaded it to me/ada-32" in out, err
        assert sorted(hub.repos["me/ada-32"]["main"][1]) == ["README.md", "config.json",
                                                             "diffusion_pytorch_model.safetensors"]
        assert all(auth == "Bearer hf_stand_in_token" for _, auth in hub.writes)
        for name in os.listdir(tmp_path / "hf"):
            assert hub.repos["me/ada-32"]["main"][1][name] == (tmp_path / "hf" / name).read_bytes()
        probe = ("import hashlib, numpy as np, stylegan; from editing.generate import generate_images; "
                 "G = stylegan.load('me/ada-32', device='cpu'); "
                 "print(hashlib.sha256(np.asarray(generate_images(G, [3], 1.0)[0]).tobytes()).hexdigest())")
        pulled = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
        assert pulled.returncode == 0, pulled.stderr
        local = np.asarray(generate_images(stylegan.load(str(tmp_path / "hf"), device="cpu"), [3], 1.0)[0])
        assert pulled.stdout.split()[-1] == hashlib.sha256(local.tobytes()).hexdigest()  # the same pixels
        # a namespace the token may not write to: one line, a non-zero exit
        code, out, err = run("convert", source, str(tmp_path / "hf2"), "--push", "forbidden/x", env=env)
        assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    finally:
        hub.stop()


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


# NVIDIA's README command lines (stylegan3, stylegan2-ada-pytorch), with our command name in place of
# the script and the embedded model in place of the download URL; projector.py's 1000 default steps
# cut to 10 for time (the full line runs too: 95 s here).
NVIDIA_LINES = [
    ("generate --outdir=out --trunc=1 --seeds=2 --network=avataaars-64", ["seed0002.png"]),
    ("generate --outdir=out --trunc=0.7 --seeds=600-605 --network=avataaars-64",
     [f"seed{s:04d}.png" for s in range(600, 606)]),
    ("generate --outdir=out --seeds=85,265,297,849 --trunc=1 --noise-mode=const --network=avataaars-64",
     ["seed0085.png", "seed0265.png", "seed0297.png", "seed0849.png"]),
    ("mix --outdir=out --rows=85,100,75,458,1500 --cols=55,821,1789,293 --network=avataaars-64",
     ["grid.png", "85-55.png", "1500-293.png"]),
    ("video --output=out/lerp.mp4 --trunc=1 --seeds=0-31 --grid=4x2 --network=avataaars-64", ["lerp.mp4"]),
    ("project --outdir=out --target=TARGET --network=avataaars-64 --num-steps=10",
     ["proj.mp4", "proj.png", "projected_w.npz", "target.png"]),
    ("generate --outdir=out --projected_w=out/projected_w.npz --network=avataaars-64", ["proj00.png"]),
]


def test_nvidias_readme_command_lines_run_with_our_command_name(tmp_path):
    target = tmp_path / "mytargetimg.png"
    Image.open(os.path.join(ROOT, "checkpoints", "avataaars64", "examples", "heldout-0.png")).save(target)
    for line, files in NVIDIA_LINES:
        args = line.replace("TARGET", str(target)).replace("out/", f"{tmp_path}/out/").replace("--outdir=out",
                                                                                            f"--outdir={tmp_path}/out")
        code, out, err = run(*args.split())
        assert code == 0, (line, err)
        assert set(files) <= set(os.listdir(tmp_path / "out")), (line, os.listdir(tmp_path / "out"))


def test_the_console_script_of_the_package_metadata(tmp_path):
    """pyproject.toml's `stylegan-studio` command, from a wheel built and installed here (no
    network: the venv's setuptools, no dependencies), run from outside the checkout."""
    import tomllib
    meta = tomllib.loads(open(os.path.join(ROOT, "pyproject.toml")).read())
    assert meta["project"]["scripts"]["stylegan-studio"] == "studio.cli:main"
    pytest.importorskip("setuptools")
    import shutil
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ and egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt", "app.py"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    for package in ("stylegan", "editing", "ops", "studio", "companions", "checkpoints"):
        shutil.copytree(os.path.join(ROOT, package), source / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"), str(source)],
                   check=True, timeout=600, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("stylegan_studio-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)], check=True,
                   timeout=600, capture_output=True)
    script = tmp_path / "site" / "bin" / "stylegan-studio"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "STUDIO_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, str(script), "generate", "--seeds=7", f"--outdir={tmp_path / 'out'}"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    code, _, err = run("generate", "--seeds=7", f"--outdir={tmp_path / 'here'}")
    assert code == 0, err
    assert np.array_equal(pixels(tmp_path / "out" / "seed0007.png"), pixels(tmp_path / "here" / "seed0007.png"))
