"""StyleGAN Studio: the page. A description of the tabs and which studio method each widget
calls; every handler only turns widget values into a call and the result into widgets, under
one error wrapper. The work lives in studio/ (one Workspace per loaded model) and editing/."""
import functools
import glob
import inspect
import logging
import os

from studio.gpu import GpuCalls, gpu_seconds, on_zero_gpu, spaces_gpu  # before torch: `spaces` must come before CUDA (ZeroGPU)

SPACES_GPU = spaces_gpu()  # spaces.GPU where the package is installed; it does nothing off ZeroGPU

import gradio as gr  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

import ops  # noqa: E402
from editing import MAX_SEED  # noqa: E402
from editing.generate import parse_seeds  # noqa: E402
from editing.latents import PRESETS  # noqa: E402
from editing.projection import RECIPES as RECIPE_STEPS  # noqa: E402
from editing.pti import PTI_STEPS  # noqa: E402
from studio import Networks, Studio, StudioError, public_message, scrub  # noqa: E402
from studio.tasks.drag import DEFAULT_DRAG_STEPS, MAX_MASK_SIDE  # noqa: E402
from studio.workspace import (  # noqa: E402
    DIRECTION_METHODS,
    MAX_DRAG_STEPS,
    MAX_ENCODER_ITERATIONS,
    MAX_FRAMES,
    MAX_PROJECTION_STEPS,
    MAX_TEXT_STEPS,
    NOISE_MODES,
    NUM_COMPONENTS,
    RECIPES,
    TEXT_METHODS,
)

log = logging.getLogger("studio.app")
ON_GPU = torch.cuda.is_available()  # on ZeroGPU too: CUDA is emulated in the main process
if not ON_GPU:
    ops.config.reuse_freed_memory()  # ~20% faster CPU generation: no page faults for every new tensor
studio = Studio(Networks(upload_dirs=(gr.utils.get_upload_folder(),)))
gpu_calls = GpuCalls(studio, SPACES_GPU, forked=on_zero_gpu())
MAX_UPLOAD = "2gb"  # the largest official pickles are about 380 MB
# Concurrency groups: quick answers never wait behind long jobs. On a 2-vCPU CPU Space a 64 px
# image takes milliseconds, a 600-frame video or a 64-image 1024 px gallery minutes.
QUICK = dict(concurrency_id="quick", concurrency_limit=8 if ON_GPU else 4)   # one image, model info, presets
EDIT = dict(concurrency_id="edit", concurrency_limit=4 if ON_GPU else 2)     # mixing grids, directions, StyleSpace
LONG = dict(concurrency_id="long", concurrency_limit=2 if ON_GPU else 1)     # galleries, videos
PROJECT = dict(concurrency_id="project", concurrency_limit=2 if ON_GPU else 1)  # projections: minutes of optimisation
TEXT = dict(concurrency_id="text", concurrency_limit=2 if ON_GPU else 1)        # text edits: CLIP through the generator
DRAG = dict(concurrency_id="drag", concurrency_limit=2 if ON_GPU else 1)        # drags: an optimisation per click
# What a missing input says (see needs): shown at the input, the outputs left as they were.
PHOTO_FIRST = "upload an image first (or pick an example below it)"
PROMPT_FIRST = "write what the edit should give, e.g. 'with sunglasses' or 'smiling'"
POINTS_FIRST = "click a handle on the image, then where it should go"
NO_RESULT = "there is no result to use yet: edit first"
SLOT_FIRST = "%s: give a latents .npz (a projection's download; the A / B / C buttons of Project put one in)"
CSS = ".enlarge img { width: 100%; height: 100%; object-fit: contain; }"  # 64 px results shown large


# Numbers reach the studio raw, whose checks name the field and its range: Gradio's own
# preprocessing rounds first and fails on NaN with a generic error. Set on the classes, not on
# instances (Gradio rebuilds a component from its class when an event updates its props) and
# not by subclassing (Gradio writes a .pyi stub beside any module that subclasses a component).
gr.Number.preprocess = gr.Slider.preprocess = lambda self, payload: payload
_image_preprocess = gr.Image.preprocess


def _uploaded_image_path(self, payload):
    """An uploaded image reaches the studio as its file, undecoded: studio.uploads checks its
    size from the header before decoding it and refuses bad files with a message, where Gradio
    would open it first (and answer a decompression bomb with an error naming its cache path)."""
    if payload is not None and self.type == "filepath" and payload.path and not (payload.url or "").startswith("data:"):
        return str(payload.path)
    return _image_preprocess(self, payload)  # webcam and clipboard images arrive as data: URLs


gr.Image.preprocess = _uploaded_image_path


_editor_image = gr.ImageEditor.convert_and_format_image


def _editor_image_sized_first(self, file, flatten_on_white=False):
    """The Drag mask's layers are decoded by Gradio before any handler runs: the size is read
    from the header first, and a layer larger than a mask may be (or not an image) is refused
    undecoded, so a 50-megapixel layer costs no memory."""
    if file is not None:
        import io
        try:
            with PIL.Image.open(file.path if hasattr(file, "path") else io.BytesIO(file)) as im:
                w, h = im.size
        except Exception:
            raise gr.Error("mask: a layer is not an image", print_exception=False) from None
        if max(w, h) > MAX_MASK_SIDE:
            raise gr.Error(f"mask: a layer is {w}x{h} pixels; at most {MAX_MASK_SIDE} a side",
                           print_exception=False)
    return _editor_image(self, file, flatten_on_white)


gr.ImageEditor.convert_and_format_image = _editor_image_sized_first


def _path_error_without_folders(self, *args):
    """Gradio's refusal of a file named in a request that was not uploaded says which absolute
    path it resolved the name to: the message keeps the file's name, not the server's folders.
    (Set on the exception, not by wrapping Gradio's check, so no frame of ours is in its log.)"""
    ValueError.__init__(self, *(scrub(a) if isinstance(a, str) else a for a in args))


gr.exceptions.InvalidPathError.__init__ = _path_error_without_folders


def handler(fn=None, gpu=None, prepare=None):
    """The one error wrapper: any failure reaches the visitor as a message meant for people
    (never Gradio's generic error, never a stack trace); unexpected ones are logged here.
    gpu: the handler uses the GPU; its ZeroGPU duration in seconds, or a function of the
    handler's arguments giving it (studio.gpu); prepare(workspace, *args) loads the task's
    companions in the main process first. The error wrapper runs inside the GPU call as
    well as outside it, so ZeroGPU's worker hands back our message, not its own."""
    if fn is None:
        return functools.partial(handler, gpu=gpu, prepare=prepare)
    if gpu is None:
        return _safe(fn)
    return _safe(gpu_calls.wrap(_safe(fn), gpu, prepare))


def _safe(fn):
    def fail(e):
        if isinstance(e, gr.Error):
            raise e
        if not isinstance(e, ValueError):
            log.exception("%s failed", fn.__name__)
        raise gr.Error(public_message(e), print_exception=False) from None

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapped_gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                fail(e)
        return wrapped_gen

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            fail(e)
    return wrapped


def needs(*checks):
    """An event's validator: checks are (position in the event's inputs, test, message). Where a
    test fails the event does not run: the page shows the message at that input and leaves the
    outputs as they were (an error would mark every output pane "Error"); the API answers 422
    with the message (gradio_client: ValidationError). Only what is missing is checked here;
    what is wrong is the studio's to say."""
    def validator(*args):
        failed = {i: message for i, test, message in checks if i < len(args) and not test(args[i])}
        return [gr.validate(i not in failed, failed.get(i, "")) for i in range(len(args))]
    return validator


def _given(value) -> bool:
    return value is not None and value != "" and value != []


def _has_points(value) -> bool:
    return _given(value) and str(value).replace(" ", "") not in ("[]", "[[]]")


def _has_words(value) -> bool:
    return _given(value) and bool(str(value).strip())


# --- how long each GPU handler may hold a ZeroGPU card: from its arguments ---------------

def _count(text) -> int:
    try:
        return len(parse_seeds(str(text), limit=10_000))
    except Exception:
        return 1


def _int(value, default=0) -> int:
    try:
        return int(value)
    except Exception:
        return default


def seconds(images=0, steps=0):
    """A duration for handlers whose work is fixed: model first, then anything."""
    return lambda choice, text, upload, *_, **__: gpu_seconds(studio, (choice, text, upload), images, steps)


def gallery_seconds(choice, text, upload, seeds, *_, **__):
    return gpu_seconds(studio, (choice, text, upload), images=_count(seeds))


def mixing_seconds(choice, text, upload, rows, cols, *_, **__):
    return gpu_seconds(studio, (choice, text, upload), images=(_count(rows) + 1) * (_count(cols) + 1))


def walk_seconds(choice, text, upload, seeds, frames_per_key, *_, **__):
    return gpu_seconds(studio, (choice, text, upload), images=(_count(seeds) + 1) * max(_int(frames_per_key, 30), 1))


def direction_seconds(choice, text, upload, seed, method, *_, **__):  # an attribute boundary renders 2,000 faces once
    return gpu_seconds(studio, (choice, text, upload), images=5 + (2000 if method == "Attribute" else 0))


def project_seconds(choice, text, upload, image, align, recipe, steps, seed, make_video, *_, **__):
    if recipe == "pti":  # the pivot (at most nvidia's 1000 steps), then the tuning
        n = RECIPE_STEPS["nvidia"].steps + min(_int(steps) or PTI_STEPS, MAX_PROJECTION_STEPS)
    else:
        n = min(_int(steps) or RECIPE_STEPS.get(recipe, RECIPE_STEPS["nvidia"]).steps, MAX_PROJECTION_STEPS)
    return gpu_seconds(studio, (choice, text, upload), images=3 + (100 if make_video else 0), steps=n)


def text_seconds(choice, text, upload, prompt, neutral, method, alpha, beta, steps, *_, **__):
    if method != "optimization":
        return gpu_seconds(studio, (choice, text, upload), images=40)  # a relevance within budget, or a shipped one
    return gpu_seconds(studio, (choice, text, upload), images=2, steps=min(_int(steps) or 300, MAX_TEXT_STEPS))


def drag_seconds(choice, text, upload, points, seed, psi, class_idx, latents, steps, *_, **__):
    return gpu_seconds(studio, (choice, text, upload), images=1, steps=min(_int(steps) or DEFAULT_DRAG_STEPS, MAX_DRAG_STEPS))


def morph_seconds(choice, text, upload, a, b, frames, *_, **__):
    return gpu_seconds(studio, (choice, text, upload), images=min(_int(frames, 60), MAX_FRAMES))


def png(image, name="image.png"):
    """An image result as a PNG file of its own. Gradio writes PIL and numpy outputs into its
    cache under a hash of their bytes, in place, so two visitors getting the same image at once
    (everyone's first click is seed 0) could download a half-written file; files it copies
    atomically."""
    path = studio.files.path(name)
    (image if hasattr(image, "save") else PIL.Image.fromarray(image)).save(path)
    return path


def model_choices():
    return [(f"{e.name} — {e.description}", e.name) for e in studio.networks.registry.values()]


# --- handlers: widget values in, widgets out --------------------------------------------

@handler
def model_info(choice, text, upload):
    w = studio.workspace(choice, text, upload)
    layers, last = w.style_layer_names(), w.num_ws - 1
    w_slider = dict(maximum=last, minimum=0)
    attributes = w.attribute_choices()
    named = attributes + w.direction_choices()
    default_named = "mouth_type=SMILE" if "mouth_type=SMILE" in attributes else (named[0] if named else None)
    return (gr.update(choices=layers, value=layers[len(layers) // 2]),
            gr.update(value=0, **w_slider), gr.update(value=last, **w_slider),
            gr.update(choices=w.preset_labels()),
            gr.update(**w_slider), gr.update(**w_slider),
            gr.update(visible=bool(w.G.c_dim), maximum=max(w.G.c_dim - 1, 0), value=w.default_class),
            gr.update(choices=named, value=default_named),
            gr.update(choices=w.recipes(), value=w.default_recipe()), gr.update(value=w.faces),
            gr.update(maximum=w.num_ws, value=w.presets()["middle"][0] if w.presets()["middle"] else 0),
            gr.update(choices=w.text_methods()),
            gr.update(choices=w.inspect_task.layers(), value=w.inspect_task.default_layer()),
            w.describe() + ("\n\n" + w.describe_companions() if w.describe_companions() else ""))


@handler(gpu=seconds(images=1))
def generate(choice, text, upload, seed, psi, noise_mode, class_idx):
    image, note = studio.workspace(choice, text, upload).generate_one(seed, psi, noise_mode, class_idx)
    return png(image, f"seed{int(seed)}.png"), note


@handler(gpu=gallery_seconds)
def generate_seeds(choice, text, upload, seeds, psi, cutoff, noise_mode, class_idx, tx, ty, rotate,
                   progress=gr.Progress()):
    w, shown = studio.workspace(choice, text, upload), []
    for g in w.generate(seeds, psi, cutoff, noise_mode, class_idx, (tx, ty), rotate):
        progress((len(g.images), g.total), desc="generating")
        new = g.images[len(shown):]
        shown += [(png(im, f"seed{s}.png"), f"seed {s}") for im, s in zip(new, g.seeds[len(shown):])]
        gallery = list(shown)
        yield gallery, w.save_latents(studio.files.path("latents.npz"), g.ws, g.z, g.seeds) if g.done else gr.skip()


@handler
def preset_layers(choice, text, upload, preset):
    w = studio.workspace(choice, text, upload)
    layers = w.mixing_layers(preset, 0, w.num_ws - 1)
    return (gr.update(value=layers[0] if layers else 0, maximum=w.num_ws - 1),
            gr.update(value=layers[-1] if layers else 0, maximum=w.num_ws - 1))


@handler(gpu=mixing_seconds)
def style_mix(choice, text, upload, row_seeds, col_seeds, preset, first, last, psi, noise_mode, class_idx, latents=None):
    w = studio.workspace(choice, text, upload)
    grid, cells, note = w.style_mix(row_seeds, col_seeds, preset, first, last, psi, noise_mode, class_idx, latents)
    return png(grid, "style_mixing.png"), w.save_latents(studio.files.path("mixed_latents.npz"), cells), note


@handler(gpu=walk_seconds)
def interpolate(choice, text, upload, seeds, frames_per_key, fps, rows, cols, loop, psi, noise_mode, class_idx,
                latents=None, progress=gr.Progress()):
    w = studio.workspace(choice, text, upload)
    for f in w.walk(studio.files.path("walk.mp4"), seeds, frames_per_key, fps, rows, cols, loop, psi, noise_mode,
                    class_idx, latents):
        progress((f.count, f.total), desc="rendering frames")
        if f.path:
            yield f.path, png(f.frame, "frame.png"), f"{f.total} frames at {int(fps)} fps"
        elif f.count % max(1, f.total // 8) == 0:  # about eight previews per video
            yield gr.skip(), png(f.frame, "frame.png"), f"frame {f.count} of {f.total}"


@handler(gpu=direction_seconds)
def direction(choice, text, upload, seed, method, index, attribute, strength, first, last, psi, class_idx, latents):
    w = studio.workspace(choice, text, upload)
    edit = w.direction(seed, method, index, attribute, strength, first, last, psi, class_idx, latents)
    return png(edit.strip, "direction.png"), w.save_latents(studio.files.path("edited_latents.npz"), edit.ws, tuned=edit.tuned), edit.note


@handler(gpu=seconds(images=2))
def stylespace(choice, text, upload, seed, layer, channel, strength, psi, class_idx):
    return png(studio.workspace(choice, text, upload).stylespace(seed, layer, channel, strength, psi, class_idx),
               "stylespace.png")


@handler(gpu=project_seconds, prepare=lambda w, choice, text, upload, image, align, recipe, *_: w.prepare("project", recipe))
def project(choice, text, upload, image, align, recipe, steps, seed, make_video, class_idx=None, iterations=0,
            progress=gr.Progress()):
    w = studio.workspace(choice, text, upload)
    video_path = studio.files.path("projection.mp4") if make_video else None
    target_shown = False
    for u in w.project(image, recipe, steps, align, seed, video_path, class_idx=class_idx, iterations=iterations):
        progress((u.step, u.steps), desc="projecting")
        if u.done:
            npz = w.save_latents(studio.files.path("projection.npz"), u.ws, noise=u.noise, tuned=u.tuned)
            yield (png(u.target, "target.png"), png(u.preview, "projection.png"), u.note, npz, u.video) + (npz,) * 6
        elif u.preview is not None:  # at most one a second; between them the loop runs on
            last = u.history[-1] if u.history else {}
            status = f"step {u.step} of {u.steps}" + (f", PSNR {last['psnr']:.2f} dB" if "psnr" in last else "")
            target = gr.skip() if target_shown else png(u.target, "target.png")
            target_shown = True
            yield (target, png(u.preview, "preview.png"), status) + (gr.skip(),) * 8


@handler(gpu=text_seconds, prepare=lambda w, *_: w.prepare("text_edit"))
def text_edit(choice, text, upload, prompt, neutral, method, alpha, beta, steps, seed, psi, class_idx, latents,
              progress=gr.Progress()):
    w = studio.workspace(choice, text, upload)
    for u in w.text_edit(prompt, neutral, method, alpha, beta, steps, seed, psi, class_idx, latents):
        progress((u.step, u.steps), desc=u.note if u.image is None and u.note and not u.done else "editing")
        if u.done:
            yield png(u.image, "text_edit.png"), u.note, w.save_latents(studio.files.path("text_edit.npz"), u.ws, styles=u.styles,
                                                                   tuned=u.tuned)
        elif u.image is not None:
            yield png(u.image, "preview.png"), f"step {u.step} of {u.steps}", gr.skip()


@handler(gpu=drag_seconds)
def drag(choice, text, upload, points, seed, psi, class_idx, latents, steps, mask=None, progress=gr.Progress()):
    w = studio.workspace(choice, text, upload)
    for u in w.drag(points, seed, psi, class_idx, latents, steps, mask=mask):
        progress((u.step, u.steps), desc="dragging")
        if u.done:
            yield png(u.image, "drag.png"), u.note, w.save_latents(studio.files.path("drag.npz"), u.ws, tuned=u.tuned)
        elif u.image is not None:
            yield png(u.image, "preview.png"), u.note, gr.skip()


@handler(gpu=seconds(images=1))
def look_inside(choice, text, upload, seed, psi, class_idx, latents, layer, channel, tx, ty, rotate):
    look = studio.workspace(choice, text, upload).inspect(seed, psi, class_idx, latents, layer, channel, (tx, ty), rotate)
    return png(look.image, "look_inside.png"), look.note


@handler(gpu=seconds(images=1))
def drag_start(choice, text, upload, seed, psi, class_idx, latents):
    """The image to place points on (the page's current latent, enlarged), no points, the same
    image under an empty mask layer to paint on, the line saying which latent it is, and the
    image at the model's resolution (kept in the page, so that clicks draw without the model)."""
    w = studio.workspace(choice, text, upload)
    base = w.drag_task.image(seed, psi, class_idx, latents)
    image = png(w.drag_task.draw(base), "drag_start.png")
    return (image, "[]", {"background": image, "layers": [], "composite": image},
            w.current_note(seed, psi, latents), png(base, "drag_base.png"))


@handler(gpu=seconds(images=1))
def current_latent(choice, text, upload, seed, psi, class_idx, latents):
    """The thumbnail and line of what an editing tab acts on (Workspace.current)."""
    image, note = studio.workspace(choice, text, upload).current(seed, psi, class_idx, latents)
    return png(image, "current.png"), note


@handler
def current_note(choice, text, upload, seed, psi, class_idx, latents):
    """The line alone, and no thumbnail (on page load and a change of model: no GPU call)."""
    return None, studio.workspace(choice, text, upload).current_note(seed, psi, latents)


def use_result(npz):
    """An edit's result made the page's current latent: into every tab's latents box."""
    return (npz,) * 6


@handler
def add_point(choice, text, upload, points, base, evt: gr.SelectData):
    """A click on the image: the next handle, or its target; the image redrawn with them (on
    the image drag_start kept: no model runs)."""
    w = studio.workspace(choice, text, upload)
    if not base:
        raise StudioError("show the image first (the button under it), then click on it")
    points = w.drag_task.add_point(points, evt.index[0], evt.index[1])
    try:
        with PIL.Image.open(base) as image:
            image = image.convert("RGB")
    except OSError:  # result files live an hour
        raise StudioError("the image has expired: show the image again (the button under it)") from None
    return png(w.drag_task.draw(image, points), "drag_points.png"), points


@handler(gpu=morph_seconds)
def morph(choice, text, upload, latents_a, latents_b, frames, fps, progress=gr.Progress()):
    w = studio.workspace(choice, text, upload)
    for f in w.morph(studio.files.path("morph.mp4"), latents_a, latents_b, frames, fps):
        progress((f.count, f.total), desc="rendering frames")
        if f.path:
            yield f.path, f"{f.total} frames from A to B"


@handler(gpu=seconds(images=2))
def expression_transfer(choice, text, upload, target, neutral, expressive, strength):
    w = studio.workspace(choice, text, upload)
    strip, ws = w.expression_transfer(target, neutral, expressive, strength)
    return png(strip, "expression.png"), w.save_latents(studio.files.path("expression.npz"), ws)


@handler(gpu=seconds(images=3))
def crossover(choice, text, upload, content, style, k):
    w = studio.workspace(choice, text, upload)
    strip, ws = w.crossover(content, style, k)
    return png(strip, "crossover.png"), w.save_latents(studio.files.path("crossover.npz"), ws)


# --- the page ---------------------------------------------------------------------------

DEFAULT = studio.default_name()
if ON_GPU:  # the default model and its companions go to the GPU at start-up (ZeroGPU: at import, in the main process)
    try:
        studio.workspace(DEFAULT).prepare("text_edit")
    except Exception:
        log.warning("the default model could not be loaded at start-up", exc_info=True)
_CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
# Two held-out avatars (for the embedded model) and scikit-image's astronaut (for face models).
EXAMPLE_PHOTOS = sorted(glob.glob(os.path.join(_CHECKPOINTS, "avataaars64", "examples", "*.png"))) + \
    sorted(glob.glob(os.path.join(_CHECKPOINTS, "examples", "*.jpg")))
with gr.Blocks(title="StyleGAN Studio", delete_cache=(600, 3600)) as demo:  # Gradio's copies live an hour too
    gr.Markdown("# StyleGAN Studio\nAny StyleGAN2 / StyleGAN3 checkpoint in the browser: generate, mix styles, "
                "walk, edit by direction or by text (StyleCLIP), project your photo (with PTI), drag to edit, "
                "look inside. Checkpoints are converted, never executed.")
    with gr.Row():
        choice = gr.Dropdown(model_choices(), value=DEFAULT, label="Model", scale=3)
        hub_id = gr.Textbox(label="…or a Hub id", placeholder="owner/repo or owner/repo/network.pkl", scale=2)
        with gr.Column(scale=2):
            with gr.Accordion("…or upload a checkpoint (.pkl, .pt)", open=False):
                upload = gr.File(label="Checkpoint", file_types=[".pkl", ".pt", ".pth"], type="filepath")
    model_note = gr.Markdown()
    with gr.Row():
        psi = gr.Slider(-1.0, 1.5, value=0.7, step=0.05, label="Truncation ψ", scale=3)
        class_idx = gr.Number(value=0, precision=0, minimum=0, label="Class (conditional models)", visible=False, scale=1)

    with gr.Tab("Generate"):
        with gr.Row():
            with gr.Column():
                seeds = gr.Textbox(value="0-7", label="Seeds (e.g. 0-7 or 1,5,9; at most 64)")
                gr.Examples([["0-7"], ["100-115"], ["3,14,15,92,65"]], [seeds], label="Seeds to try")
                cutoff = gr.Number(value=0, precision=0, minimum=0, label="Truncation cutoff (ws truncated, 0 = all)")
                noise_mode = gr.Radio(list(NOISE_MODES), value="const", label="Noise")
                with gr.Accordion("StyleGAN3: translate and rotate", open=False):
                    tx = gr.Slider(-1, 1, value=0, step=0.05, label="Translate x")
                    ty = gr.Slider(-1, 1, value=0, step=0.05, label="Translate y")
                    rot = gr.Slider(-180, 180, value=0, step=1, label="Rotate (degrees)")
                run_gen = gr.Button("Generate", variant="primary")
            with gr.Column():
                gallery = gr.Gallery(label="Images", columns=4, height=520, object_fit="contain", format="png",
                                     buttons=["download", "fullscreen"])
                gen_npz = gr.File(label="Latents (.npz, key 'w' as NVIDIA's tools read it)")
        with gr.Accordion("One seed", open=False):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                run_one = gr.Button("Generate one")
            image = gr.Image(label="Image", type="filepath", format="png", height=320, elem_classes="enlarge",
                             buttons=["download"])
            info = gr.Markdown()

    with gr.Tab("Style mixing"):
        with gr.Row():
            with gr.Column():
                row_seeds = gr.Textbox(value="1-4", label="Row seeds (the base images, at most 8)")
                col_seeds = gr.Textbox(value="10-13", label="Column seeds (the styles, at most 8)")
                mix_latents = gr.File(label="…and latents as the first row (.npz; a projection lands here)",
                                      file_types=[".npz"], type="filepath")
                preset = gr.Radio([(p, p) for p in PRESETS] + [("custom range", "custom")], value="middle",
                                  label="Styles taken from the columns")
                with gr.Row():
                    mix_start = gr.Slider(0, 17, value=4, step=1, label="First w (custom)")
                    mix_end = gr.Slider(0, 17, value=7, step=1, label="Last w (custom)")
                run_mix = gr.Button("Mix", variant="primary")
            with gr.Column():
                mix_image = gr.Image(label="Style mixing grid", type="filepath", format="png", height=560,
                                     elem_classes="enlarge", buttons=["download"])
                mix_info = gr.Markdown()
                mix_npz = gr.File(label="Mixed latents (.npz)")

    with gr.Tab("Interpolate"):
        with gr.Row():
            with gr.Column():
                walk_seeds = gr.Textbox(value="0-3", label="Keyframe seeds (a grid takes rows x cols seeds per keyframe)")
                frames_per_key = gr.Slider(2, 120, value=30, step=1, label="Frames per keyframe")
                fps = gr.Slider(1, 60, value=30, step=1, label="Frames per second")
                with gr.Row():
                    grid_rows = gr.Number(value=1, precision=0, minimum=1, maximum=4, label="Grid rows")
                    grid_cols = gr.Number(value=1, precision=0, minimum=1, maximum=4, label="Grid columns")
                walk_latents = gr.File(label="…starting from latents (.npz, 1x1 grid; a projection lands here)",
                                       file_types=[".npz"], type="filepath")
                loop = gr.Checkbox(value=True, label="Loop")
                walk_noise = gr.Radio(list(NOISE_MODES), value="const", label="Noise")
                gr.Markdown(f"At most {MAX_FRAMES} frames per video.")
                run_walk = gr.Button("Render video", variant="primary")
            with gr.Column():
                video = gr.Video(label="Walk (MP4)", format="mp4", loop=True, autoplay=True, height=400)
                walk_preview = gr.Image(label="Latest frame", type="filepath", format="png", height=160)
                walk_info = gr.Markdown()

    with gr.Tab("Directions"):
        with gr.Row():
            with gr.Column():
                dir_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                dir_latents = gr.File(label="…or latents (.npz with 'w')", file_types=[".npz"], type="filepath")
                with gr.Row(equal_height=True):
                    dir_current = gr.Image(show_label=False, type="filepath", format="png", height=96, width=96,
                                           interactive=False, buttons=[], elem_id="dir-current", scale=0, min_width=96)
                    dir_current_note = gr.Markdown(elem_id="dir-current-note")
                method = gr.Radio(list(DIRECTION_METHODS), value="SeFa", label="Method")
                index = gr.Slider(0, NUM_COMPONENTS - 1, value=0, step=1, label="Component (SeFa, GANSpace, GANSpace files)")
                attribute = gr.Dropdown([], label="Attribute (a classifier's) or declared direction (InterFaceGAN, GANSpace file)",
                                        allow_custom_value=True)
                strength = gr.Slider(0, 10, value=3, step=0.5, label="Strength (standard deviations of W along the direction)")
                with gr.Row():
                    dir_start = gr.Slider(0, 17, value=0, step=1, label="First w")
                    dir_end = gr.Slider(0, 17, value=17, step=1, label="Last w")
                run_dir = gr.Button("Edit", variant="primary")
            with gr.Column():
                strip = gr.Image(label="-strength … +strength", type="filepath", format="png", height=240,
                                 elem_classes="enlarge", buttons=["download"])
                dir_info = gr.Markdown()
                dir_npz = gr.File(label="Edited latents (+strength, .npz)")
                dir_use = gr.Button("Edit this result next", size="sm")
        with gr.Accordion("StyleSpace: one style channel", open=False):
            with gr.Row():
                style_layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
                channel = gr.Number(value=0, precision=0, minimum=0, label="Channel")
                style_strength = gr.Slider(-20, 20, value=10, step=1, label="Strength (standard deviations)")
                run_style = gr.Button("Edit channel")
            style_image = gr.Image(label="before | after", type="filepath", format="png", height=280,
                                   elem_classes="enlarge", buttons=["download"])

    with gr.Tab("Project"):
        with gr.Row():
            with gr.Column():
                photo = gr.Image(label="Your image (upload, webcam or paste)", type="filepath", image_mode=None,
                                 sources=["upload", "webcam", "clipboard"], height=280, elem_id="photo")
                gr.Examples(EXAMPLE_PHOTOS, [photo], label="No photo at hand? Held-out avatars (never trained on; for the "
                            "embedded model) or a photo of a face (for face models, with Align)")
                align = gr.Checkbox(value=False, label="Align the face first (FFHQ crop; face models)")
                recipe = gr.Radio(list(RECIPES), value="hybrid", label="Recipe")
                gr.Markdown("**encoder**: one pass, instant · **hybrid**: encoder start + 100 steps · "
                            "**nvidia**: W, 1000 steps · **image2stylegan**: W+, 5000 steps · "
                            "**pti**: the best of those as a pivot, then 350 steps tuning a copy of the generator "
                            "(closest; edits of the result use the tuned copy; steps = tuning steps)")
                with gr.Row():
                    proj_steps = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_PROJECTION_STEPS,
                                           label="Steps (0: the recipe's)")
                    proj_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                    proj_iterations = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_ENCODER_ITERATIONS,
                                                label="ReStyle iterations (0: the encoder's own)")
                make_video = gr.Checkbox(value=False, label="Also make a video of the optimisation")
                with gr.Row():
                    run_proj = gr.Button("Project", variant="primary")
                    stop_proj = gr.Button("Stop", variant="stop")
            with gr.Column():
                with gr.Row():
                    proj_target = gr.Image(label="Target", type="filepath", format="png", height=240,
                                           elem_classes="enlarge")
                    proj_image = gr.Image(label="Projection", type="filepath", format="png", height=240,
                                          elem_classes="enlarge", buttons=["download"])
                proj_info = gr.Markdown(elem_id="proj-info")
                proj_npz = gr.File(label="Latent (.npz: 'w' and optimised noise); Directions, Style mixing, Interpolate take it",
                                   elem_id="proj-npz")
                proj_video = gr.Video(label="Optimisation (MP4)", format="mp4", height=240)
                with gr.Row():
                    to_a = gr.Button("Use as A")
                    to_b = gr.Button("Use as B")
                    to_c = gr.Button("Use as C")
        with gr.Accordion("What to do with projections (Image2StyleGAN)", open=False):
            with gr.Row():
                slot_a = gr.File(label="A (.npz)", file_types=[".npz"], type="filepath")
                slot_b = gr.File(label="B (.npz)", file_types=[".npz"], type="filepath")
                slot_c = gr.File(label="C (.npz)", file_types=[".npz"], type="filepath")
            with gr.Row():
                with gr.Column():
                    gr.Markdown("**Morph** A → B")
                    morph_frames = gr.Slider(2, MAX_FRAMES, value=60, step=1, label="Frames")
                    morph_fps = gr.Slider(1, 60, value=30, step=1, label="Frames per second")
                    run_morph = gr.Button("Morph")
                    morph_video = gr.Video(label="Morph (MP4)", format="mp4", loop=True, autoplay=True, height=240)
                    morph_info = gr.Markdown()
                with gr.Column():
                    gr.Markdown("**Expression transfer**: A + λ·(C − B), B neutral and C expressive")
                    expr_strength = gr.Slider(-3, 3, value=1, step=0.1, label="λ")
                    run_expr = gr.Button("Transfer")
                    expr_image = gr.Image(label="A | result", type="filepath", format="png", height=200,
                                          elem_classes="enlarge", buttons=["download"])
                    expr_npz = gr.File(label="Result (.npz)")
                with gr.Column():
                    gr.Markdown("**Crossover**: the first k ws from A, the rest from B")
                    cross_k = gr.Slider(0, 17, value=4, step=1, label="k")
                    run_cross = gr.Button("Cross over")
                    cross_image = gr.Image(label="A | B | result", type="filepath", format="png", height=200,
                                           elem_classes="enlarge", buttons=["download"])
                    cross_npz = gr.File(label="Result (.npz)")

    with gr.Tab("Drag"):
        with gr.Row():
            with gr.Column():
                drag_image = gr.Image(label="Click a handle, then where it should go (red → blue)", type="filepath",
                                      format="png", height=320, interactive=False, elem_id="drag-image")
                drag_current_note = gr.Markdown(elem_id="drag-current-note")
                drag_base = gr.State(None)  # drag_start's image at the model's resolution, drawn on by clicks
                drag_points = gr.Textbox(value="[]", label="Points: [[handle x, handle y, target x, target y], …] "
                                         "in the model's pixels", elem_id="drag-points")
                with gr.Row():
                    drag_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                    drag_steps = gr.Number(value=DEFAULT_DRAG_STEPS, precision=0, minimum=0, maximum=MAX_DRAG_STEPS,
                                           label="Steps (at most)")
                drag_latents = gr.File(label="…or drag these latents (.npz; a projection lands here)",
                                       file_types=[".npz"], type="filepath")
                with gr.Accordion("Mask: paint what may move (optional; nothing painted: all may)", open=False):
                    drag_mask = gr.ImageEditor(type="numpy", image_mode="RGBA", sources=[], height=300,
                                               brush=gr.Brush(default_size=12, colors=["#ffcc00"], color_mode="fixed"),
                                               transforms=[], layers=False, label="Mask", elem_id="drag-mask")
                with gr.Row():
                    drag_show = gr.Button("Show the image / reset points")
                    run_drag = gr.Button("Start", variant="primary")
                    stop_drag = gr.Button("Stop", variant="stop")
            with gr.Column():
                drag_result = gr.Image(label="Dragged (tracked handles red, targets blue)", type="filepath",
                                       format="png", height=320, buttons=["download"])
                drag_info = gr.Markdown(elem_id="drag-info")
                drag_npz = gr.File(label="Dragged latent (.npz; the next drag starts from it)")

    with gr.Tab("Text edit"):
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt", value="with sunglasses", max_length=200,
                                    placeholder="with sunglasses · smiling · with pink hair · a zombie")
                gr.Examples([["smiling"], ["with sunglasses"], ["with pink hair"], ["with a beard"]], [prompt],
                            label="Prompts to try")
                neutral = gr.Textbox(label="Neutral prompt (global directions; empty: 'a face')", max_length=200)
                text_method = gr.Radio(list(TEXT_METHODS), value="global (fast)", label="Method")
                gr.Markdown("**optimization**: StyleCLIP's latent optimisation in W+ (live preview) · "
                            "**global**: StyleCLIP's global direction in StyleSpace, instant once the model's "
                            "channel relevance is known (*fast*: ours, from backward passes, once per model, "
                            "then kept: seconds for small models; for large ones the page gives the estimate and "
                            "the precomputation command · *exact*: StyleCLIP's precomputation, where it was run)")
                with gr.Row():
                    alpha = gr.Slider(-10, 10, value=4, step=0.5, label="α (strength, global)")
                    beta = gr.Slider(0, 0.5, value=0.2, step=0.01, label="β (disentanglement, global)")
                with gr.Row():
                    text_steps = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_TEXT_STEPS,
                                           label="Steps (optimization; 0: 300)")
                    text_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                text_latents = gr.File(label="…or edit these latents (.npz; a projection lands here)", file_types=[".npz"],
                                       type="filepath")
                with gr.Row(equal_height=True):
                    text_current = gr.Image(show_label=False, type="filepath", format="png", height=96, width=96,
                                            interactive=False, buttons=[], elem_id="text-current", scale=0, min_width=96)
                    text_current_note = gr.Markdown(elem_id="text-current-note")
                with gr.Row():
                    run_text = gr.Button("Edit", variant="primary")
                    stop_text = gr.Button("Stop", variant="stop")
            with gr.Column():
                text_image = gr.Image(label="before | after", type="filepath", format="png", height=280,
                                      elem_classes="enlarge", buttons=["download"])
                text_info = gr.Markdown(elem_id="text-info")
                text_npz = gr.File(label="Edited latent (.npz: 'w', and 'styles.<layer>' for a global edit)")
                text_use = gr.Button("Edit this result next", size="sm")

    with gr.Tab("Look inside"):
        gr.Markdown("What a layer of the generator computes for an image of the page, and the image's 2-D "
                    "spectrum, as NVIDIA's visualizer shows them: StyleGAN2's features stick to the pixel grid, "
                    "StyleGAN3's move with the picture (try translate and rotate on a StyleGAN3 model).")
        with gr.Row():
            with gr.Column():
                look_layer = gr.Dropdown([], label="Layer", allow_custom_value=True, elem_id="look-layer")
                with gr.Row():
                    look_channel = gr.Number(value=-1, precision=0, minimum=-1, label="Channel (-1: the norm over channels)")
                    look_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                with gr.Row():
                    look_tx = gr.Slider(-1, 1, value=0, step=0.01, label="Translate x (StyleGAN3)")
                    look_ty = gr.Slider(-1, 1, value=0, step=0.01, label="Translate y (StyleGAN3)")
                    look_rot = gr.Slider(-180, 180, value=0, step=1, label="Rotate ° (StyleGAN3)")
                look_latents = gr.File(label="…or look inside these latents (.npz)", file_types=[".npz"], type="filepath")
                run_look = gr.Button("Look", variant="primary")
            with gr.Column():
                look_image = gr.Image(label="image | activations | spectrum", type="filepath", format="png", height=280,
                                      elem_classes="enlarge", buttons=["download"], elem_id="look-image")
                look_info = gr.Markdown(elem_id="look-info")

    model = [choice, hub_id, upload]
    current = [dir_latents, mix_latents, walk_latents, text_latents, drag_latents, look_latents]  # the current latent's boxes
    run_one.click(generate, model + [seed, psi, noise_mode, class_idx], [image, info], api_name="generate", **QUICK)
    run_gen.click(generate_seeds, model + [seeds, psi, cutoff, noise_mode, class_idx, tx, ty, rot], [gallery, gen_npz],
                  api_name="generate_seeds", **LONG)
    preset.change(preset_layers, model + [preset], [mix_start, mix_end], api_name="preset_layers", **QUICK)
    run_mix.click(style_mix, model + [row_seeds, col_seeds, preset, mix_start, mix_end, psi, noise_mode, class_idx,
                                      mix_latents],
                  [mix_image, mix_npz, mix_info], api_name="style_mix", **EDIT)
    run_walk.click(interpolate, model + [walk_seeds, frames_per_key, fps, grid_rows, grid_cols, loop, psi, walk_noise,
                                         class_idx, walk_latents], [video, walk_preview, walk_info], api_name="interpolate",
                   **LONG)
    run_dir.click(direction, model + [dir_seed, method, index, attribute, strength, dir_start, dir_end, psi, class_idx,
                                      dir_latents], [strip, dir_npz, dir_info], api_name="direction", **EDIT)
    run_style.click(stylespace, model + [dir_seed, style_layer, channel, style_strength, psi, class_idx], [style_image],
                    api_name="stylespace", **EDIT)
    proj_event = run_proj.click(project, model + [photo, align, recipe, proj_steps, proj_seed, make_video, class_idx,
                                                  proj_iterations],
                                [proj_target, proj_image, proj_info, proj_npz, proj_video] + current,
                                api_name="project", validator=needs((3, _given, PHOTO_FIRST)), **PROJECT)
    stop_proj.click(None, None, None, cancels=[proj_event])
    text_event = run_text.click(text_edit, model + [prompt, neutral, text_method, alpha, beta, text_steps, text_seed, psi,
                                                    class_idx, text_latents], [text_image, text_info, text_npz],
                                api_name="text_edit", validator=needs((3, _has_words, PROMPT_FIRST)), **TEXT)
    stop_text.click(None, None, None, cancels=[text_event])
    gr.on([drag_show.click, drag_latents.change], drag_start, model + [drag_seed, psi, class_idx, drag_latents],
          [drag_image, drag_points, drag_mask, drag_current_note, drag_base], api_visibility="private", **QUICK)
    drag_image.select(add_point, model + [drag_points, drag_base], [drag_image, drag_points],
                      api_visibility="private", **QUICK)
    drag_event = run_drag.click(drag, model + [drag_points, drag_seed, psi, class_idx, drag_latents, drag_steps,
                                               drag_mask],
                                [drag_result, drag_info, drag_npz], api_name="drag",
                                validator=needs((3, _has_points, POINTS_FIRST)), **DRAG)
    stop_drag.click(None, None, None, cancels=[drag_event])
    # What the editing tabs act on, shown beside them; a finished drag is the next one's start,
    # other results are when asked (an edit re-run with another strength must not compound).
    drag_event.success(use_result, [drag_npz], current, api_visibility="private", **QUICK)
    for use, result in ((dir_use, dir_npz), (text_use, text_npz)):
        use.click(use_result, [result], current, api_visibility="private", validator=needs((0, _given, NO_RESULT)),
                  **QUICK)
    for seed_box, latents_box, shown in ((dir_seed, dir_latents, [dir_current, dir_current_note]),
                                         (text_seed, text_latents, [text_current, text_current_note])):
        gr.on([seed_box.change, latents_box.change, psi.release], current_latent,
              model + [seed_box, psi, class_idx, latents_box], shown, api_visibility="private",
              trigger_mode="always_last", **QUICK)
        gr.on([demo.load, choice.change, hub_id.submit, upload.change], current_note,
              model + [seed_box, psi, class_idx, latents_box], shown, api_visibility="private", **QUICK)
    run_look.click(look_inside, model + [look_seed, psi, class_idx, look_latents, look_layer, look_channel, look_tx,
                                         look_ty, look_rot], [look_image, look_info], api_name="inspect", **QUICK)
    for button, slot in ((to_a, slot_a), (to_b, slot_b), (to_c, slot_c)):
        button.click(lambda f: f, [proj_npz], [slot], api_visibility="private", **QUICK)
    run_morph.click(morph, model + [slot_a, slot_b, morph_frames, morph_fps], [morph_video, morph_info],
                    api_name="morph", validator=needs((3, _given, SLOT_FIRST % "image A"),
                                                      (4, _given, SLOT_FIRST % "image B")), **LONG)
    run_expr.click(expression_transfer, model + [slot_a, slot_b, slot_c, expr_strength], [expr_image, expr_npz],
                   api_name="expression_transfer",
                   validator=needs(*((3 + i, _given, SLOT_FIRST % name) for i, name in
                                    enumerate(("target (A)", "neutral face (B)", "expressive face (C)")))), **EDIT)
    run_cross.click(crossover, model + [slot_a, slot_b, cross_k], [cross_image, cross_npz], api_name="crossover",
                    validator=needs((3, _given, SLOT_FIRST % "content image (A)"),
                                    (4, _given, SLOT_FIRST % "style image (B)")), **EDIT)
    info_outputs = [style_layer, dir_start, dir_end, preset, mix_start, mix_end, class_idx, attribute, recipe, align,
                    cross_k, text_method, look_layer, model_note]
    demo.load(model_info, model, info_outputs, api_name="model_info", **QUICK)
    for trigger in (choice.change, hub_id.submit, upload.change):
        trigger(model_info, model, info_outputs, api_visibility="private", **QUICK)

demo.queue(max_size=64, default_concurrency_limit=1)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), max_file_size=MAX_UPLOAD, css=CSS,
                show_error=True)  # Gradio's own checks (a missing value, a file type) as messages; ours are gr.Error
