"""The app starts offline and answers through gradio_client; bad input gives a message."""
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, ROOT

gradio_client = pytest.importorskip("gradio_client")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path_factory.mktemp("hf")))
    log = open(tmp_path_factory.mktemp("log") / "app.log", "w+")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, open(log.name).read()
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_generate_through_the_api(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    assert "/generate" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    image, info = client.predict("stylegan2-ffhq-1024", os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), None, 7, 0.7,
                                 "const", api_name="/generate")
    assert Image.open(image).size == (32, 32)
    assert "StyleGAN3Generator" in info


def test_the_default_model_works_offline(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    image, info = client.predict("avataaars-64", "", None, 3, 0.7, "const", api_name="/generate")
    img = Image.open(image)
    assert img.size == (64, 64) and len(set(img.getdata())) > 100  # a picture, not a flat square


@pytest.mark.parametrize("hub_id,message", [
    ("", "offline"),                                   # the registry model cannot be downloaded here
    ("nobody/no-such-stylegan", "offline"),
    (os.path.join(FIXTURES, "sg3-t-32", "cases.json"), "neither"),
])
def test_bad_input_gives_a_message(app_url, hub_id, message):
    client = gradio_client.Client(app_url, verbose=False)
    with pytest.raises(Exception) as e:
        client.predict("stylegan2-ffhq-1024", hub_id, None, 0, 0.7, "const", api_name="/generate")
    assert message in str(e.value)
