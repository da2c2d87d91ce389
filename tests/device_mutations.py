"""Puts each device bug that tests/test_device.py exists to catch back into a copy of the
project, one at a time, and checks that the device test fails on it (and passes without any):

    python tests/device_mutations.py          # prints one line per bug; exit 1 if one goes unnoticed

Not part of the suite (each run takes a minute or two); run it after changing the device test."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MUTATIONS = {  # name: (file, the fixed text, the bug, the tests to run), or a list of them put back together
    "LPIPS built on the CPU and never moved": (
        "companions/perceptual.py", 'model = _network("lpips", state, _device_of(device), build)',
        'model = _network("lpips", state, _device_of(None), build)', "projection and imagenet and nvidia"),
    "Image2StyleGAN's VGG16 layers on the CPU": (
        "companions/perceptual.py", 'net = _network("vgg16", state, _device_of(device)',
        'net = _network("vgg16", state, _device_of(None)', "projection and imagenet and image2stylegan"),
    "the attribute classifier kept on the CPU": (
        "studio/networks.py", "load(f).to(self.device).eval()", "load(f).eval()", "offline and nvidia or Attribute"),
    "the fast relevance's sigma on the device": (
        "editing/text_edit.py", "out / len(ws) * std.cpu()  # per sigma_c step",
        "out / len(ws) * std.to(ws.device)  # per sigma_c step", "computed"),
    "the global edit's sigma on the device": (
        "editing/text_edit.py", "return relevance.split(ds * relevance.std.float().cpu()), int(keep.sum())",
        "return relevance.split(ds * relevance.std.float().to(\"meta\")), int(keep.sum())", "computed"),
    "the Python API's CLIP left on the CPU": [
        ("companions/__init__.py", "return load_clip(path, device=device)", "return load_clip(path)", "python_api"),
        ("editing/text_edit.py", "    if clip.device != device_of(G):\n        clip.to(device_of(G))\n", "", "python_api")],
}


def run(tree, selection):
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_device.py", "-k", selection]
    return subprocess.run(cmd, cwd=tree, capture_output=True, text=True)


def main():
    missed = 0
    for name, edits in MUTATIONS.items():
        edits = edits if isinstance(edits, list) else [edits]
        tree = tempfile.mkdtemp()
        shutil.copytree(ROOT, tree, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".venv*", ".git", "__pycache__"))
        selection = edits[0][3]
        clean = run(tree, selection)
        for path, fixed, bug, _ in edits:
            with open(os.path.join(tree, path)) as f:
                text = f.read()
            assert text.count(fixed) == 1, (name, "the fixed text is not in", path)
            with open(os.path.join(tree, path), "w") as f:
                f.write(text.replace(fixed, bug))
        broken = run(tree, selection)
        caught = clean.returncode == 0 and broken.returncode != 0 and "DeviceMismatch" in broken.stdout
        missed += not caught
        print(f"{'caught' if caught else 'MISSED'}: {name}", flush=True)
        shutil.rmtree(tree, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
