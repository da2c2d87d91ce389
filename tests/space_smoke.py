"""What a Space installs is what it runs: the app started from a virtual environment made from
requirements.txt alone (what a Space installs), and every api_name it lists answered once,
Project with face alignment on included. Run by .ci/run:

    python tests/space_smoke.py .venv-space/bin/python

The client side (this script) runs in the test environment, for scikit-image's astronaut photo;
the app runs in the given interpreter. An endpoint added to the page without a call here fails."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conftest  # noqa: E402

MODEL = ("avataaars-64", "", None)


def main(python: str) -> int:
    import gradio_client
    import PIL.Image
    from skimage import data
    tmp = tempfile.mkdtemp()
    photo = os.path.join(tmp, "astronaut.png")
    PIL.Image.fromarray(data.astronaut()).save(photo)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=os.path.join(tmp, "hf"))
    proc, url, log = conftest.start_app_with(python, tmp, env)
    try:
        client = gradio_client.Client(url, verbose=False)
        endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
        done = {}

        def call(name, *args):
            out = client.submit(*MODEL, *args, api_name=name).result()  # the last output of a streaming one
            done[name] = out
            return out

        call("/model_info")
        call("/generate", 3, 0.7, "const", 0)
        call("/generate_seeds", "0-3", 0.7, 0, "const", 0, 0, 0, 0)
        call("/preset_layers", "coarse")
        call("/style_mix", "1-2", "3-4", "middle", 0, 0, 0.7, "const", 0, None)
        call("/interpolate", "0-1", 2, 10, 1, 1, True, 0.7, "const", 0, None)
        call("/direction", 1, "SeFa", 0, None, 3, 0, 9, 0.7, 0, None)
        call("/stylespace", 1, "b16.conv1", 5, 10, 0.7, 0)
        out = call("/project", gradio_client.handle_file(photo), True, "encoder", 0, 0, False, 0, 0)
        assert "face aligned" in out[2], out[2]
        npz = gradio_client.handle_file(out[3])
        call("/morph", npz, npz, 3, 10)
        call("/expression_transfer", npz, npz, npz, 1.0)
        call("/crossover", npz, npz, 4)
        call("/text_edit", "smiling", "", "global (fast)", 4, 0.2, 0, 1, 0.7, 0, None)
        call("/drag", "[[32, 40, 36, 40]]", 1, 0.7, 0, None, 20, None)
        call("/inspect", 1, 0.7, 0, None, "b16.conv1", -1, 0, 0, 0)
        missing = endpoints - set(done)
        assert not missing, f"endpoints without a call here: {sorted(missing)}"
        print(f"space smoke: {len(done)} endpoints answered from {python}: {', '.join(sorted(done))}")
        return 0
    except Exception:
        print(open(log).read()[-4000:])
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
