"""The layout tells the architecture: imports point down (page -> studio -> editing / companions ->
stylegan -> ops); training/, metrics/ and benchmarks/ sit above what they use; the app runs
nothing of them; the README's "What is where" names every module there is."""
import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGES = ("app", "studio", "editing", "companions", "stylegan", "ops", "training", "metrics", "benchmarks")
# What each part may import of the project (besides itself).
ALLOWED = {
    "app": {"studio", "editing", "companions", "stylegan", "ops"},
    "studio": {"editing", "companions", "stylegan", "ops"},
    "editing": {"companions", "stylegan", "ops"},
    "companions": {"stylegan", "ops"},
    "stylegan": {"ops"},
    "ops": set(),
    "metrics": {"companions", "editing", "stylegan", "ops", "training"},
    "training": {"studio", "editing", "companions", "stylegan", "ops", "metrics"},
    "benchmarks": set(PACKAGES) - {"benchmarks", "app"},
}


def modules():
    for top in PACKAGES:
        if top == "app":
            yield "app", os.path.join(ROOT, "app.py")
            continue
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    yield top, os.path.join(folder, name)


def imported(path):
    """The project packages a file imports (at module level or inside functions)."""
    tree = ast.parse(open(path).read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_imports_point_down():
    wrong = []
    for top, path in modules():
        for other in imported(path) - {top}:
            if other not in ALLOWED[top]:
                wrong.append(f"{os.path.relpath(path, ROOT)} imports {other}")
    assert not wrong, "\n".join(wrong)


def test_the_app_runs_nothing_of_training_or_metrics():
    """Every tab's work on the embedded model, in a fresh process: training/ and metrics/ are never imported."""
    script = """
import sys, tempfile, os, numpy as np
from PIL import Image
from studio import Studio
w = Studio().workspace("avataaars-64")
w.generate_one(1); list(w.generate("0-1"))
w.style_mix("1", "2"); w.direction(1, "Attribute", 0, "mouth_type=SMILE", 1.0)
w.direction(1, "SeFa", 0); w.stylespace(1, w.style_layer_names()[0], 0, 2)
path = os.path.join(tempfile.mkdtemp(), "face.png")
Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
list(w.project(path, "hybrid", 1)); list(w.project(path, "encoder"))
list(w.text_edit("with sunglasses", method="optimization", steps=1)); list(w.text_edit("smiling"))
list(w.text_edit("smiling", method="global (exact)"))
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("training", "metrics", "benchmarks"))
print("IMPORTED", bad)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "IMPORTED []" in out.stdout, out.stdout[-2000:]


def what_is_where():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## What is where"):]
    return section[:section.index("\n## ", 5)]


def test_the_readme_names_every_module():
    section = what_is_where()
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([^`]+)`", line)
        if m:
            rows[m.group(1)] = line
    for key, line in rows.items():  # every path named exists, at the root or under its row's folder
        base = key if key.endswith("/") else os.path.dirname(key)
        for p in re.findall(r"`([\w./-]+/|[\w./-]+\.py)`", line):
            assert any(os.path.exists(os.path.join(ROOT, b, p)) for b in ("", base, os.path.join(base, "tasks"))), \
                f"the README names {p} (row {key}), which is not in the tree"
    for top in ("studio", "companions", "editing", "training", "ops"):
        row = next(line for key, line in rows.items() if key == f"{top}/")
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            if "__pycache__" in folder:
                continue
            for name in files:
                if name.endswith(".py") and name != "__init__.py" or (top == "companions" and name == "__init__.py"):
                    stem = name[:-3]
                    assert re.search(rf"`{re.escape(name)}`|`{re.escape(stem)}`", row), \
                        f"the README's row for {top}/ does not name {os.path.relpath(os.path.join(folder, name), ROOT)}"


@pytest.mark.parametrize("package", ["companions", "editing", "stylegan", "ops"])
def test_lower_layers_import_without_the_studio(package):
    out = subprocess.run([sys.executable, "-c", f"import sys, {package}; "
                          "print(sorted(m for m in sys.modules if m.split('.')[0] in ('studio', 'app', 'gradio')))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
