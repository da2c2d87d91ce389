"""StyleGAN Studio: a Gradio page wired to plain functions (stylegan.load, editing.*).

Every handler below only turns widget values into arguments, calls editing/, and turns the
result into images and files; each has a stable api_name for gradio_client (see README)."""
import os
import tempfile
import weakref

import gradio as gr
import torch

import ops
import stylegan
from checkpoints import default_entry, load_registry
from editing import MAX_SEED
from editing.directions import apply_direction, attribute_direction, direction_std, ganspace, sefa
from editing.generate import (default_batch, generate_images, image_grid, load_latents, mixing_grid_image, parse_seeds,
                              save_latents, seeds_to_z, synthesize, to_pil)
from editing.latents import PRESETS, mixing_preset, mixing_ws, render_mixing_grid, seeds_to_ws
from editing.stylespace import edit_styles, style_layers, style_statistics
from editing.video import Mp4Writer, num_frames, walk_frames

try:  # ZeroGPU Spaces: run the GPU work inside spaces.GPU
    import spaces
    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

ops.config.reuse_freed_memory()  # ~20% faster CPU generation: no page faults for every new tensor
REGISTRY = load_registry()
DEFAULT = default_entry(REGISTRY) or next(iter(REGISTRY.values()))
MAX_UPLOAD = "2gb"  # the largest official pickles are about 380 MB
MAX_FRAMES = 600
OUT = tempfile.mkdtemp(prefix="stylegan-studio-")
_directions = weakref.WeakKeyDictionary()  # G -> {(method, key): computed directions}; gone with G
_classifiers = {}  # folder -> the attribute classifier shipped there


def fail(e):
    raise gr.Error(str(e), print_exception=False)


def model_choices():
    return [(f"{e.name} — {e.description}", e.name) for e in REGISTRY.values()]


def source_of(choice, hub_id, upload):
    return upload or (hub_id or "").strip() or choice


def load_model(choice, hub_id, upload):
    """The upload, else the Hub id or path, else the picked registry model."""
    try:
        return stylegan.load(source_of(choice, hub_id, upload))
    except stylegan.CheckpointError as e:
        fail(e)


def classifier_for(choice, hub_id, upload):
    """The attribute classifier shipped beside a registry model (the embedded one has one)."""
    source = source_of(choice, hub_id, upload)
    entry = REGISTRY.get(source) if isinstance(source, str) else None
    folder = os.path.join(entry.path, "classifier") if entry is not None and entry.path else None
    if folder is None or not os.path.isdir(folder):
        return None
    if folder not in _classifiers:
        from metrics.classifier import load
        _classifiers[folder] = load(folder)
    return _classifiers[folder]


def cached(G, key, compute):
    """compute() once per model and key; forgotten when the model leaves stylegan.load's cache."""
    per_model = _directions.setdefault(G, {})
    if key not in per_model:
        per_model[key] = compute()
    return per_model[key]


def describe(G):
    return (f"{type(G).__name__}: {G.img_resolution}x{G.img_resolution}, {G.img_channels} channels, "
            f"z {G.z_dim}, w {G.w_dim}, {G.num_ws} ws" + (f", {G.c_dim} classes" if G.c_dim else ""))


def out_path(name):
    return os.path.join(tempfile.mkdtemp(dir=OUT), name)


def class_arg(G, class_idx):
    return int(class_idx) if G.c_dim else None


def layer_range(G, start, end):
    start, end = int(start), int(end)
    if not 0 <= start <= end < G.num_ws:
        fail(f"layers run from 0 to {G.num_ws - 1} for this model; got {start}-{end}")
    return list(range(start, end + 1))


# --- Generate ---------------------------------------------------------------------------------

@gpu
def generate(choice, hub_id, upload, seed, truncation_psi, noise_mode):
    G = load_model(choice, hub_id, upload)
    try:
        image = generate_images(G, [int(seed)], truncation_psi=float(truncation_psi), noise_mode=noise_mode,
                                class_idx=0 if G.c_dim else None)[0]
    except ValueError as e:
        fail(e)
    return image, describe(G) + (" (class 0 shown)" if G.c_dim else "")


@gpu
def generate_seeds(choice, hub_id, upload, seeds, truncation_psi, truncation_cutoff, noise_mode, class_idx,
                   translate_x, translate_y, rotate, progress=gr.Progress()):
    G = load_model(choice, hub_id, upload)
    try:
        seed_list = parse_seeds(seeds)
        cutoff = int(truncation_cutoff) or None
        ws = seeds_to_ws(G, seed_list, float(truncation_psi), cutoff, class_arg(G, class_idx))
        images, batch = [], default_batch(G)
        for i in progress.tqdm(range(0, len(seed_list), batch), desc="generating"):
            images += to_pil(synthesize(G, ws[i:i + batch], noise_mode, (float(translate_x), float(translate_y)), float(rotate)))
            if len(images) < len(seed_list):  # stream the gallery as batches finish
                yield [(im, f"seed {s}") for im, s in zip(images, seed_list)], gr.skip()
    except ValueError as e:
        fail(e)
    npz = save_latents(out_path("latents.npz"), ws, z=seeds_to_z(G, seed_list), seeds=seed_list)
    yield [(im, f"seed {s}") for im, s in zip(images, seed_list)], npz


# --- Style mixing -----------------------------------------------------------------------------

def preset_layers(choice, hub_id, upload, preset):
    """The layer range of a preset, for the sliders."""
    G = load_model(choice, hub_id, upload)
    layers = mixing_preset(G, preset) if preset in PRESETS else list(range(G.num_ws))
    return gr.update(value=layers[0], maximum=G.num_ws - 1), gr.update(value=layers[-1], maximum=G.num_ws - 1)


@gpu
def style_mix(choice, hub_id, upload, row_seeds, col_seeds, preset, layer_start, layer_end, truncation_psi,
              noise_mode, class_idx):
    G = load_model(choice, hub_id, upload)
    try:
        rows, cols = parse_seeds(row_seeds, limit=8), parse_seeds(col_seeds, limit=8)
        layers = mixing_preset(G, preset) if preset in PRESETS else layer_range(G, layer_start, layer_end)
        cells, row_ws, col_ws = mixing_ws(G, rows, cols, layers, float(truncation_psi), class_arg(G, class_idx))
        grid, row_img, col_img = render_mixing_grid(G, cells, row_ws, col_ws, noise_mode)
    except ValueError as e:
        fail(e)
    npz = save_latents(out_path("mixed_latents.npz"), cells)
    return mixing_grid_image(grid, row_img, col_img), npz, f"ws {layers[0]}-{layers[-1]} from the columns" if layers else "no ws mixed"


# --- Interpolate ------------------------------------------------------------------------------

@gpu
def interpolate_video(choice, hub_id, upload, seeds, frames_per_key, fps, grid_rows, grid_cols, loop,
                      truncation_psi, noise_mode, progress=gr.Progress()):
    G = load_model(choice, hub_id, upload)
    try:
        cells = int(grid_rows) * int(grid_cols)
        seed_list = parse_seeds(seeds, limit=16 * cells)
        total = num_frames(len(seed_list) // max(cells, 1), int(frames_per_key), bool(loop))
        if total > MAX_FRAMES:
            raise ValueError(f"that is {total} frames; at most {MAX_FRAMES} per video")
        frames = walk_frames(G, seed_list, int(frames_per_key), float(truncation_psi), bool(loop),
                             (int(grid_rows), int(grid_cols)), noise_mode)
        path = out_path("walk.mp4")
        every = max(1, total // 8)  # about eight previews per video
        with Mp4Writer(path, fps=int(fps)) as writer:
            for frame in progress.tqdm(frames, total=total, desc="rendering frames"):
                rgb = writer.write(frame)
                if writer.count % every == 0 and writer.count < total:
                    yield gr.skip(), rgb, f"frame {writer.count} of {total}"
    except ValueError as e:
        fail(e)
    yield path, rgb, f"{total} frames at {int(fps)} fps"


# --- Directions -------------------------------------------------------------------------------

def find_direction(G, method, index, attribute, classifier, layers):
    if method == "SeFa":
        def compute():
            dirs = sefa(G, layers, num=20)[0]
            return dirs, direction_std(G, dirs)
        dirs, std = cached(G, ("sefa", tuple(layers)), compute)
        return dirs[int(index)], float(std[int(index)])
    if method == "GANSpace":
        dirs, std, _ = cached(G, "ganspace", lambda: ganspace(G, num=20))
        return dirs[int(index)], float(std[int(index)])
    if classifier is None:
        raise ValueError("attribute directions need a model with an attribute classifier (the embedded avataaars-64)")
    name, _, value = (attribute or "").partition("=")
    fit = cached(G, ("attribute", name, value), lambda: attribute_direction(G, classifier, name, value))
    return fit["direction"], fit["std"]


@gpu
def direction(choice, hub_id, upload, seed, method, index, attribute, strength, layer_start, layer_end,
              truncation_psi, latents):
    """A strip of five images from -strength to +strength along a direction, strength in
    standard deviations of W along it (the same units for SeFa, GANSpace and attributes)."""
    G = load_model(choice, hub_id, upload)
    try:
        layers = layer_range(G, layer_start, layer_end)
        ws = load_latents(latents, G)[:1] if latents else seeds_to_ws(G, [int(seed)], float(truncation_psi))
        d, unit = find_direction(G, method, index, attribute, classifier_for(choice, hub_id, upload), layers)
        steps = [-1, -0.5, 0, 0.5, 1]
        moved = torch.cat([apply_direction(ws, d, float(strength) * s * unit, layers) for s in steps])
        strip = image_grid(synthesize(G, moved), 1, len(steps))
    except ValueError as e:
        fail(e)
    npz = save_latents(out_path("edited_latents.npz"), moved[-1:])
    return strip, npz


def attribute_choices():
    clf = classifier_for(DEFAULT.name, "", None)
    if clf is None:
        return []
    return [f"{a}={v}" for a, values in clf.attributes.items() for v in values]


@gpu
def stylespace(choice, hub_id, upload, seed, layer, channel, strength, truncation_psi):
    """Before / after moving one style channel by `strength` standard deviations."""
    G = load_model(choice, hub_id, upload)
    try:
        layers = style_layers(G)
        if layer not in layers:
            raise ValueError(f"no style layer {layer!r}; this model has: {', '.join(layers)}")
        width = layers[layer][1].out_features
        if not 0 <= int(channel) < width:
            raise ValueError(f"{layer} has channels 0 to {width - 1}")
        std = float(cached(G, "style-std", lambda: style_statistics(G))[layer][int(channel)])
        ws = seeds_to_ws(G, [int(seed)], float(truncation_psi))
        before = synthesize(G, ws)
        with edit_styles(G, {(layer, int(channel)): float(strength) * std}):
            after = synthesize(G, ws)
    except ValueError as e:
        fail(e)
    return image_grid(torch.cat([before, after]), 1, 2)


def style_layer_choices(choice, hub_id, upload):
    G = load_model(choice, hub_id, upload)
    names = list(style_layers(G))
    return gr.update(choices=names, value=names[len(names) // 2]), gr.update(maximum=G.num_ws - 1, value=0), \
        gr.update(maximum=G.num_ws - 1, value=G.num_ws - 1), describe(G)


# --- The page ---------------------------------------------------------------------------------

with gr.Blocks(title="StyleGAN Studio", delete_cache=(3600, 3600)) as demo:  # result files live an hour
    gr.Markdown("# StyleGAN Studio\nStyleGAN2 and StyleGAN3 in the browser: seeds, truncation, style mixing, "
                "walks and latent directions. Checkpoints are converted, never executed.")
    with gr.Row():
        choice = gr.Dropdown(model_choices(), value=DEFAULT.name, label="Model", scale=3)
        hub_id = gr.Textbox(label="…or a Hub id / path", placeholder="owner/repo or owner/repo/network.pkl", scale=2)
        upload = gr.File(label="…or upload a checkpoint (.pkl, .pt)", file_types=[".pkl", ".pt", ".pth"], type="filepath", scale=2)
    model_info = gr.Markdown()
    psi = gr.Slider(-1.0, 1.5, value=0.7, step=0.05, label="Truncation ψ")

    with gr.Tab("Generate"):
        with gr.Row():
            with gr.Column():
                seeds = gr.Textbox(value="0-7", label="Seeds (e.g. 0-7 or 1,5,9; at most 64)")
                cutoff = gr.Number(value=0, precision=0, minimum=0, label="Truncation cutoff (ws truncated, 0 = all)")
                noise_mode = gr.Radio(["const", "random", "none"], value="const", label="Noise")
                class_idx = gr.Number(value=0, precision=0, minimum=0, label="Class (conditional models)")
                with gr.Accordion("StyleGAN3: translate and rotate", open=False):
                    tx = gr.Slider(-1, 1, value=0, step=0.05, label="Translate x")
                    ty = gr.Slider(-1, 1, value=0, step=0.05, label="Translate y")
                    rot = gr.Slider(-180, 180, value=0, step=1, label="Rotate (degrees)")
                run_gen = gr.Button("Generate", variant="primary")
            with gr.Column():
                gallery = gr.Gallery(label="Images", columns=4, format="png", buttons=["download", "fullscreen"])
                gen_npz = gr.File(label="Latents (.npz, key 'w' as NVIDIA's tools read it)")
        with gr.Accordion("One seed", open=False):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                run_one = gr.Button("Generate one")
            image = gr.Image(label="Image", type="pil", format="png", buttons=["download"])
            info = gr.Markdown()

    with gr.Tab("Style mixing"):
        with gr.Row():
            with gr.Column():
                row_seeds = gr.Textbox(value="1-4", label="Row seeds (the base images, at most 8)")
                col_seeds = gr.Textbox(value="10-13", label="Column seeds (the styles, at most 8)")
                preset = gr.Radio(list(PRESETS) + ["custom"], value="middle", label="Styles taken from the columns")
                with gr.Row():
                    mix_start = gr.Slider(0, 17, value=3, step=1, label="First w (custom)")
                    mix_end = gr.Slider(0, 17, value=6, step=1, label="Last w (custom)")
                run_mix = gr.Button("Mix", variant="primary")
            with gr.Column():
                mix_image = gr.Image(label="Style mixing grid", type="pil", format="png", buttons=["download"])
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
                loop = gr.Checkbox(value=True, label="Loop")
                walk_noise = gr.Radio(["const", "random", "none"], value="const", label="Noise")
                run_walk = gr.Button("Render video", variant="primary")
            with gr.Column():
                video = gr.Video(label="Walk (MP4)", format="mp4", loop=True, autoplay=True)
                walk_preview = gr.Image(label="Latest frame", type="numpy", format="png", height=160)
                walk_info = gr.Markdown()

    with gr.Tab("Directions"):
        with gr.Row():
            with gr.Column():
                dir_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                dir_latents = gr.File(label="…or latents (.npz with 'w')", file_types=[".npz"], type="filepath")
                method = gr.Radio(["SeFa", "GANSpace", "Attribute"], value="SeFa", label="Method")
                index = gr.Slider(0, 19, value=0, step=1, label="Component (SeFa, GANSpace)")
                attributes = attribute_choices()
                attribute = gr.Dropdown(attributes, value="mouth_type=SMILE" if attributes else None,
                                        label="Attribute (embedded model)", allow_custom_value=True)
                strength = gr.Slider(0, 10, value=3, step=0.5, label="Strength (standard deviations of W along the direction)")
                with gr.Row():
                    dir_start = gr.Slider(0, 17, value=0, step=1, label="First w")
                    dir_end = gr.Slider(0, 17, value=17, step=1, label="Last w")
                run_dir = gr.Button("Edit", variant="primary")
            with gr.Column():
                strip = gr.Image(label="-strength … +strength", type="pil", format="png", buttons=["download"])
                dir_npz = gr.File(label="Edited latents (+strength, .npz)")
        with gr.Accordion("StyleSpace: one style channel", open=False):
            with gr.Row():
                style_layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
                channel = gr.Number(value=0, precision=0, minimum=0, label="Channel")
                style_strength = gr.Slider(-20, 20, value=10, step=1, label="Strength (standard deviations)")
                run_style = gr.Button("Edit channel")
            style_image = gr.Image(label="before | after", type="pil", format="png", buttons=["download"])

    model_inputs = [choice, hub_id, upload]
    run_one.click(generate, model_inputs + [seed, psi, noise_mode], [image, info], api_name="generate")
    run_gen.click(generate_seeds, model_inputs + [seeds, psi, cutoff, noise_mode, class_idx, tx, ty, rot],
                  [gallery, gen_npz], api_name="generate_seeds")
    preset.change(preset_layers, model_inputs + [preset], [mix_start, mix_end], api_name="preset_layers")
    run_mix.click(style_mix, model_inputs + [row_seeds, col_seeds, preset, mix_start, mix_end, psi, noise_mode, class_idx],
                  [mix_image, mix_npz, mix_info], api_name="style_mix")
    run_walk.click(interpolate_video, model_inputs + [walk_seeds, frames_per_key, fps, grid_rows, grid_cols, loop, psi,
                                                      walk_noise], [video, walk_preview, walk_info], api_name="interpolate")
    run_dir.click(direction, model_inputs + [dir_seed, method, index, attribute, strength, dir_start, dir_end, psi,
                                             dir_latents], [strip, dir_npz], api_name="direction")
    run_style.click(stylespace, model_inputs + [dir_seed, style_layer, channel, style_strength, psi], [style_image],
                    api_name="stylespace")
    demo.load(style_layer_choices, model_inputs, [style_layer, dir_start, dir_end, model_info], api_name="model_info")
    for trigger in (choice.change, hub_id.submit, upload.change):
        trigger(style_layer_choices, model_inputs, [style_layer, dir_start, dir_end, model_info], api_visibility="private")

demo.queue(max_size=32, default_concurrency_limit=1)

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), max_file_size=MAX_UPLOAD)
