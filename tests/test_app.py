"""The app starts offline and answers through gradio_client; bad input gives a message."""
import os

import numpy as np
import pytest
from conftest import FIXTURES, start_app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path_factory.mktemp("hf")), STUDIO_LOCAL_DIRS=FIXTURES)
    proc, url, _ = start_app(tmp_path_factory, env)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_generate_through_the_api(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    assert "/generate" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    image, info = client.predict("stylegan2-ffhq-1024", os.path.join(FIXTURES, "sg3-t-32", "network.pkl"), None, 7, 0.7,
                                 "const", 0, api_name="/generate")  # a local path under STUDIO_LOCAL_DIRS
    assert Image.open(image).size == (32, 32)
    assert "StyleGAN3Generator" in info


def test_an_uploaded_tensorflow_pickle_generates(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    upload = gradio_client.handle_file(os.path.join(FIXTURES, "tf-sg2-cond-resnet-32", "network.pkl"))
    image, info = client.predict("avataaars-64", "", upload, 7, 0.7, "const", 2, api_name="/generate")
    assert Image.open(image).size == (32, 32)
    assert "StyleGAN2Generator" in info


def test_the_default_model_works_offline(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    image, info = client.predict("avataaars-64", "", None, 3, 0.7, "const", 0, api_name="/generate")
    img = Image.open(image)
    colours = set(img.convert("RGB").tobytes()[i:i + 3] for i in range(0, 64 * 64 * 3, 3))
    assert img.size == (64, 64) and len(colours) > 100  # a picture, not a flat square


MODEL = ("avataaars-64", "", None)


def test_every_api_name_answers(app_url, tmp_path):
    """Each endpoint of the page, on the embedded model, offline."""
    import av
    import numpy as np
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert names == {"/generate", "/generate_seeds", "/preset_layers", "/style_mix", "/interpolate", "/direction",
                     "/stylespace", "/model_info", "/project", "/morph", "/expression_transfer", "/crossover", "/text_edit",
                     "/drag", "/inspect"}
    assert "StyleGAN2Generator: 64x64" in client.predict(*MODEL, api_name="/model_info")[-1]
    look, note = client.predict(*MODEL, 1, 0.7, 0, None, "b16.conv1", 3, 0, 0, 0, api_name="/inspect")
    assert Image.open(look).size == (768, 256) and note.startswith("b16.conv1: 128 channels of 16x16, showing channel 3")
    gallery, npz = client.predict(*MODEL, "0-5", 0.7, 0, "const", 0, 0, 0, 0, api_name="/generate_seeds")
    assert len(gallery) == 6 and Image.open(gallery[0]["image"]).size == (64, 64)
    with np.load(npz) as f:
        assert f["w"].shape == (6, 10, 128) and list(f["seeds"]) == list(range(6))
    first, last = client.predict(*MODEL, "coarse", api_name="/preset_layers")
    assert (first["value"], last["value"]) == (0, 3)  # the papers' coarse styles: 4-8 px
    grid, mixed, info = client.predict(*MODEL, "1-3", "10-11", "middle", 0, 0, 0.7, "const", 0, api_name="/style_mix")
    assert Image.open(grid).size == (3 * 64, 4 * 64) and "ws 4-7" in info
    with np.load(mixed) as f:
        assert f["w"].shape == (6, 10, 128)
    video, preview, info = client.predict(*MODEL, "0-2", 4, 10, 1, 1, True, 0.7, "const", 0, api_name="/interpolate")
    with av.open(video["video"] if isinstance(video, dict) else video) as f:
        assert sum(1 for _ in f.decode(video=0)) == 12 and "12 frames" in info
    assert Image.open(preview).size == (64, 64)
    for method in ("SeFa", "GANSpace"):
        strip, edited, note = client.predict(*MODEL, 3, method, 1, None, 3, 0, 9, 0.7, 0, None, api_name="/direction")
        assert Image.open(strip).size == (5 * 64, 64) and f"{method} component 1" in note
    # an edit continues from uploaded latents
    strip, _, _ = client.predict(*MODEL, 0, "SeFa", 0, None, 0, 0, 9, 0.7, 0, gradio_client.handle_file(edited),
                                 api_name="/direction")
    before_after = client.predict(*MODEL, 3, "b16.conv1", 5, 10, 0.7, 0, api_name="/stylespace")
    assert Image.open(before_after).size == (2 * 64, 64)


def test_project_and_what_to_do_with_projections(app_url, tmp_path):
    """The Project tab's endpoints: a photo becomes a latent, which Directions, morphing,
    expression transfer and crossover take."""
    import av
    import numpy as np
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    info = client.predict(*MODEL, api_name="/model_info")
    assert info[8]["value"] == "hybrid" and set(info[8]["choices"][i][0] for i in range(4)) == {
        "nvidia", "image2stylegan", "encoder", "hybrid"}
    assert info[9]["value"] is False  # cartoon faces: no FFHQ alignment by default
    photos = []
    for k, colour in enumerate(((230, 200, 170), (120, 80, 60))):
        img = Image.new("RGB", (150, 120), (220, 230, 240))
        img.paste(colour, (40, 20, 110, 110))
        photos.append(tmp_path / f"photo{k}.png")
        img.save(photos[-1])
    npzs = []
    for photo, recipe, steps in ((photos[0], "encoder", None), (photos[1], "image2stylegan", 12)):
        job = client.submit(*MODEL, gradio_client.handle_file(str(photo)), False, recipe, steps, 0, True,
                            api_name="/project")
        target, projection, note, npz, video, *current = job.result()  # the rest: every tab's latents box
        assert len(current) == 6 and all(c == current[0] for c in current)
        current = current[0]
        assert Image.open(target).size == (64, 64) and Image.open(projection).size == (64, 64)
        assert note.startswith(recipe) and "PSNR" in note and current is not None
        with np.load(npz) as f:
            assert f["w"].shape == (1, 10, 128)
        with av.open(video["video"] if isinstance(video, dict) else video) as f:
            assert sum(1 for _ in f.decode(video=0)) == (1 if recipe == "encoder" else 12)  # a frame a step
        npzs.append(gradio_client.handle_file(npz))
    strip, _, _ = client.predict(*MODEL, 0, "SeFa", 0, None, 3, 0, 9, 0.7, 0, npzs[0], api_name="/direction")
    assert Image.open(strip).size == (5 * 64, 64)
    grid, mixed, _ = client.predict(*MODEL, "1-2", "10-11", "middle", 0, 0, 0.7, "const", 0, npzs[0], api_name="/style_mix")
    assert Image.open(grid).size == (3 * 64, 4 * 64)  # the projection is the first of three rows
    with np.load(mixed) as f, np.load(npzs[0]["path"]) as p:
        assert np.allclose(f["w"][0, :4], p["w"][0, :4])  # its coarse ws kept in the first cell
    video, _, note = client.predict(*MODEL, "5", 4, 10, 1, 1, True, 0.7, "const", 0, npzs[0], api_name="/interpolate")
    assert "8 frames" in note  # from the projection to seed 5 and back
    video, note = client.predict(*MODEL, npzs[0], npzs[1], 8, 10, api_name="/morph")
    with av.open(video["video"] if isinstance(video, dict) else video) as f:
        assert sum(1 for _ in f.decode(video=0)) == 8
    strip, out = client.predict(*MODEL, npzs[0], npzs[1], npzs[0], 1.0, api_name="/expression_transfer")
    assert Image.open(strip).size == (2 * 64, 64)
    strip, out = client.predict(*MODEL, npzs[0], npzs[1], 4, api_name="/crossover")
    assert Image.open(strip).size == (3 * 64, 64)
    with pytest.raises(Exception) as e:
        client.predict(*MODEL, npzs[0], None, 4, api_name="/crossover")
    assert "style image (B): give a latents .npz" in str(e.value)


def test_long_work_streams_previews(app_url):
    """The gallery fills batch by batch and a video shows its frames while it renders."""
    client = gradio_client.Client(app_url, verbose=False)
    job = client.submit(*MODEL, "0-19", 0.7, 0, "const", 0, 0, 0, 0, api_name="/generate_seeds")
    job.result()
    outputs = job.outputs()
    assert [len(gallery) for gallery, _ in outputs] == [8, 16, 20]
    assert outputs[-1][1] is not None  # the latents come with the last update
    job = client.submit(*MODEL, "0-3", 8, 10, 1, 1, True, 0.7, "const", 0, api_name="/interpolate")
    job.result()
    notes = [note for _, _, note in job.outputs()]
    assert notes == [f"frame {i} of 32" for i in range(4, 32, 4)] + ["32 frames at 10 fps"]


def test_text_edit_through_the_api(app_url):
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    image, note, npz = client.predict(*MODEL, "with sunglasses", "", "global (fast)", 6, 0.1, 0, 3, 0.7, 0, None,
                                      api_name="/text_edit")
    assert Image.open(image).size == (128, 64) and "style channels moved" in note
    job = client.submit(*MODEL, "smiling", "", "optimization", 4, 0.1, 20, 3, 0.7, 0, None, api_name="/text_edit")
    image, note, npz = job.result()
    assert "latent optimisation" in note and np.load(npz)["w"].shape == (1, 10, 128)
    # An edit goes on from the latent it is given (a projection's, or an earlier edit's).
    image2, note2, _ = client.predict(*MODEL, "with a beard", "", "global (fast)", 6, 0.1, 0, 3, 0.7, 0,
                                      gradio_client.handle_file(npz), api_name="/text_edit")
    assert Image.open(image2).size == (128, 64)


@pytest.mark.parametrize("endpoint,args,message", [
    ("/generate_seeds", ("0-100000", 0.7, 0, "const", 0, 0, 0, 0), "too many"),
    ("/generate_seeds", ("abc", 0.7, 0, "const", 0, 0, 0, 0), "cannot read"),
    ("/generate_seeds", ("0", 0.7, 0, "const", 0, 0.2, 0, 0), "StyleGAN3"),
    ("/style_mix", ("1-3", "4", "custom", 5, 2, 0.7, "const", 0), "comes after the last"),
    ("/interpolate", ("0-9", 120, 30, 1, 1, True, 0.7, "const", 0), "at most 600"),
    ("/interpolate", ("0-20", 10, 30, 1, 1, True, 0.7, "const", 0), "too many seeds"),
    ("/direction", (0, "SeFa", 0, None, 3, 0, 9, 0.7, 0, "junk.npz"), "not a latents .npz file"),
    ("/direction", (0, "SeFa", 0, None, 3, 0, 9, 0.7, 0, os.path.join(FIXTURES, "sg3-t-32", "cases.json")), "Invalid file type"),
    ("/stylespace", (0, "b16.conv1", 999, 10, 0.7, 0), "channel of b16.conv1 must be a whole number from 0 to 127"),
    ("/text_edit", ("smiling", "", "global (fast)", 99, 0.1, 0, 3, 0.7, 0, None), "α (strength) must be a number from -20 to 20"),
    ("/text_edit", ("", "", "optimization", 4, 0.1, 0, 3, 0.7, 0, None), "prompt: write what the edit should give"),
])
def test_bad_input_on_each_tab_gives_a_message(app_url, endpoint, args, message, tmp_path):
    client = gradio_client.Client(app_url, verbose=False)
    if endpoint == "/direction":
        path = args[-1]
        if path == "junk.npz":
            path = tmp_path / "junk.npz"
            path.write_bytes(b"this is not a zip archive")
        args = args[:-1] + (gradio_client.handle_file(str(path)),)
    with pytest.raises(Exception) as e:
        client.predict(*MODEL, *args, api_name=endpoint)
    assert message in str(e.value)


@pytest.mark.parametrize("hub_id,message", [
    ("", "offline"),                                   # the registry model cannot be downloaded here
    ("nobody/no-such-stylegan", "offline"),
    (os.path.join(FIXTURES, "sg3-t-32", "cases.json"), "neither"),   # allowed folder (STUDIO_LOCAL_DIRS), not a checkpoint
    ("/etc/passwd", "local paths are not accepted"),                  # outside: refused, nothing confirmed
])
def test_bad_input_gives_a_message(app_url, hub_id, message):
    client = gradio_client.Client(app_url, verbose=False)
    with pytest.raises(Exception) as e:
        client.predict("stylegan2-ffhq-1024", hub_id, None, 0, 0.7, "const", 0, api_name="/generate")
    assert message in str(e.value)


def test_conditional_models_take_their_class_in_every_tab(app_url):
    """A conditional checkpoint (under STUDIO_LOCAL_DIRS): the class field appears with the
    model's range, and every tab draws the class it is given."""
    from PIL import Image
    client = gradio_client.Client(app_url, verbose=False)
    model = ("avataaars-64", os.path.join(FIXTURES, "ada-cond-32", "network.pkl"), None)
    info = client.predict(*model, api_name="/model_info")
    class_field = info[6]
    assert class_field["visible"] is True and class_field["maximum"] >= 1 and "classes" in info[-1]
    a, _ = client.predict(*model, 1, 0.7, "const", 0, api_name="/generate")
    b, note = client.predict(*model, 1, 0.7, "const", 1, api_name="/generate")
    assert "class 1" in note and Image.open(a).tobytes() != Image.open(b).tobytes()
    last = info[2]["value"]  # the last-w slider, set to the model's last w
    strips = [client.predict(*model, 1, "GANSpace", 0, None, 2, 0, last, 0.7, c, None, api_name="/direction")[0] for c in (0, 1)]
    assert Image.open(strips[0]).tobytes() != Image.open(strips[1]).tobytes()
    for c in (0, 1):
        client.predict(*model, 1, "b8.conv1", 0, 5, 0.7, c, api_name="/stylespace")
        client.predict(*model, "0-1", 2, 10, 1, 1, True, 0.7, "const", c, api_name="/interpolate")
        client.predict(*model, "1", "2", "coarse", 0, 0, 0.7, "const", c, api_name="/style_mix")
    with pytest.raises(Exception, match="class must be a whole number from 0 to"):
        client.predict(*model, 1, 0.7, "const", 99, api_name="/generate")
