import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# Relevances computed by tests are kept out of the user's cache (and each run starts without any).
os.environ.setdefault("STUDIO_RELEVANCE_CACHE", __import__("tempfile").mkdtemp(prefix="relevance-"))


def fixture_names():
    """The generator fixtures (the enc-* and dir-* folders hold encoders and direction files)."""
    return sorted(d for d in os.listdir(FIXTURES) if os.path.isfile(os.path.join(FIXTURES, d, "cases.json"))
                  and not d.startswith(("enc-", "dir-")))


def fixture_config(name):
    with open(os.path.join(FIXTURES, name, "config.json")) as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def _fresh_load_cache():
    import stylegan
    stylegan.clear_cache()
    yield
    stylegan.clear_cache()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_app(tmp_path_factory, env):
    """app.py in a process of its own on a free local port, with `env` as its environment;
    returns (process, url, log path) once it accepts connections."""
    return start_app_with(sys.executable, str(tmp_path_factory.mktemp("log")), env)


def start_app_with(python, folder, env):
    """app.py run by the interpreter `python` (another virtual environment's), its log in `folder`."""
    port = free_port()
    env = dict(env, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    log = open(os.path.join(folder, "app.log"), "w+")
    proc = subprocess.Popen([python, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}", log.name
        except OSError:
            assert proc.poll() is None, open(log.name).read()
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("the app did not start: " + open(log.name).read()[-2000:])
