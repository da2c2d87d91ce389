"""Cartoon-face dataset: Avataaars rendered at 64x64 with their attribute labels.

Artwork "Avataaars" by Pablo Stanley (https://avataaars.com, free for personal and commercial
use), templates from the MIT-licensed `py-avataaars` package, rasterised by cairosvg.

Everything is decided by (seed, index): image i of a dataset draws its attributes from
np.random.default_rng([seed, i]), so any shard can be rebuilt alone, in any order, by any number
of workers, and always comes out the same. Attributes are drawn from hand-set frequencies rather
than uniformly, so that most faces wear no glasses, few scream or vomit, and so on.

    python -m training.avatars --out data/avataaars            # 50,000 train + 5,000 held out
    python -m training.avatars --out data/avataaars-parts --jitter 6 --parts   # posed, parts moved

The output is a folder of shards (`train-00000.npz`, ..., `heldout-00000.npz`), each with
`images` (N, 64, 64, 3) uint8 and one int16 array per attribute (-1 where the attribute is not
visible, e.g. hair colour under a hat). Building is resumable: finished shards are kept.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RESOLUTION = 64
SHARD_SIZE = 1000
BACKGROUND = "#DCE6F0"  # one flat background for every face
CROP = "22 8 220 220"  # square viewBox around head, hair and beard (the template is 264x280)
# Poses (datasets built with --jitter J): each face moved by up to J output pixels each way and
# scaled by up to POSE_SCALE either way, about the crop's centre. The renders otherwise put every
# part at one place, and no latent of a model trained on them can move a part (a drag's premise).
POSE_SCALE = 1.12
_PAD = 60  # template units drawn around the crop for posed renders, so a moved face is never cut
# Part geometry (datasets built with --parts): within the face, the eyes (with the glasses), the
# eyebrows (relative to the eyes) and the mouth (with a moustache) moved by draws of their own,
# uniform in +-(x, y) output pixels. Templates put each part at one place; a drag of a part needs
# data in which it moves.
PART_JITTER = {"eyes": (1.0, 2.0), "eyebrows": (0.5, 2.5), "mouth": (1.5, 3.0)}
PARTS = list(PART_JITTER)
_UNITS_PER_PIXEL = float(CROP.split()[2]) / RESOLUTION  # template units per output pixel (unposed)
# Which templates move with which part (path in py-avataaars' templates -> part).
_PART_OF = {"face/eyes": "eyes", "top/accessories": "eyes", "face/eyebrow": "eyebrows", "face/mouth": "mouth"}

# ---------------------------------------------------------------------------------------------
# Attributes: name -> (py_avataaars enum name, {member: relative frequency}).
# Members left out of a table get the table's `_rest` weight (split evenly).

HAIR_TOPS = [
    "LONG_HAIR_BIG_HAIR", "LONG_HAIR_BOB", "LONG_HAIR_BUN", "LONG_HAIR_CURLY", "LONG_HAIR_CURVY",
    "LONG_HAIR_DREADS", "LONG_HAIR_FRIDA", "LONG_HAIR_FRO", "LONG_HAIR_FRO_BAND",
    "LONG_HAIR_NOT_TOO_LONG", "LONG_HAIR_MIA_WALLACE", "LONG_HAIR_SHAVED_SIDES",
    "LONG_HAIR_STRAIGHT", "LONG_HAIR_STRAIGHT2", "LONG_HAIR_STRAIGHT_STRAND",
    "SHORT_HAIR_DREADS_01", "SHORT_HAIR_DREADS_02", "SHORT_HAIR_FRIZZLE", "SHORT_HAIR_SHAGGY_MULLET",
    "SHORT_HAIR_SHORT_CURLY", "SHORT_HAIR_SHORT_FLAT", "SHORT_HAIR_SHORT_ROUND",
    "SHORT_HAIR_SHORT_WAVED", "SHORT_HAIR_SIDES", "SHORT_HAIR_THE_CAESAR",
    "SHORT_HAIR_THE_CAESAR_SIDE_PART",
]
HAT_TOPS = ["HAT", "HIJAB", "TURBAN", "WINTER_HAT1", "WINTER_HAT2", "WINTER_HAT3", "WINTER_HAT4"]
# Templates that take the hair colour (Frida's hair is drawn in fixed colours).
COLOURED_HAIR_TOPS = [t for t in HAIR_TOPS if t != "LONG_HAIR_FRIDA"]

FREQUENCIES = {
    "skin_color": ("SkinColor", {"PALE": 18, "LIGHT": 24, "TANNED": 12, "BROWN": 18,
                                 "DARK_BROWN": 15, "BLACK": 10, "YELLOW": 3}),
    "top_type": ("TopType", {"NO_HAIR": 5, "EYE_PATCH": 1, "HAT": 3, "HIJAB": 3, "TURBAN": 2,
                             "WINTER_HAT1": 1, "WINTER_HAT2": 1, "WINTER_HAT3": 1,
                             "WINTER_HAT4": 1, "_rest": 82}),
    "hair_color": ("HairColor", {"BLACK": 25, "BROWN": 20, "BROWN_DARK": 18, "BLONDE": 10,
                                 "BLONDE_GOLDEN": 7, "AUBURN": 7, "RED": 4, "PLATINUM": 3,
                                 "SILVER_GRAY": 4, "PASTEL_PINK": 2}),
    "hat_color": ("Color", {"_rest": 1}),
    "accessories_type": ("AccessoriesType", {"DEFAULT": 78, "PRESCRIPTION_01": 7,
                                             "PRESCRIPTION_02": 7, "ROUND": 6, "SUNGLASSES": 4,
                                             "WAYFARERS": 4, "KURT": 2}),
    "facial_hair_type": ("FacialHairType", {"DEFAULT": 72, "BEARD_LIGHT": 8, "BEARD_MEDIUM": 8,
                                            "BEARD_MAJESTIC": 4, "MOUSTACHE_FANCY": 4,
                                            "MOUSTACHE_MAGNUM": 4}),
    "facial_hair_color": ("HairColor", {"BLACK": 25, "BROWN": 20, "BROWN_DARK": 18, "BLONDE": 10,
                                        "BLONDE_GOLDEN": 7, "AUBURN": 7, "RED": 4, "PLATINUM": 3,
                                        "SILVER_GRAY": 6}),
    "mouth_type": ("MouthType", {"DEFAULT": 25, "SMILE": 30, "TWINKLE": 12, "SERIOUS": 12,
                                 "CONCERNED": 5, "DISBELIEF": 3, "EATING": 2, "GRIMACE": 3,
                                 "SAD": 3, "SCREAM_OPEN": 2, "TONGUE": 2, "VOMIT": 1}),
    "eye_type": ("EyesType", {"DEFAULT": 40, "HAPPY": 15, "SQUINT": 8, "SIDE": 6, "WINK": 5,
                              "SURPRISED": 5, "CLOSE": 5, "EYE_ROLL": 4, "WINK_WACKY": 3,
                              "CRY": 3, "HEARTS": 3, "DIZZY": 3}),
    "eyebrow_type": ("EyebrowType", {"DEFAULT": 25, "DEFAULT_NATURAL": 25, "RAISED_EXCITED": 8,
                                     "RAISED_EXCITED_NATURAL": 8, "FLAT_NATURAL": 8,
                                     "_rest": 26}),
    "clothe_type": ("ClotheType", {"_rest": 1}),
    "clothe_color": ("Color", {"_rest": 1}),
    "clothe_graphic_type": ("ClotheGraphicType", {"_rest": 1}),
}
ATTRIBUTES = list(FREQUENCIES)


def _enum(name):
    import py_avataaars
    return getattr(py_avataaars, name)


def attribute_classes(attribute: str) -> list[str]:
    """Class names of one attribute, in label order (the enum's order)."""
    return [m.name for m in _enum(FREQUENCIES[attribute][0])]


def attribute_probabilities(attribute: str) -> np.ndarray:
    """The frequency table of `attribute` as probabilities over attribute_classes(attribute)."""
    names = attribute_classes(attribute)
    table = FREQUENCIES[attribute][1]
    rest = [n for n in names if n not in table]
    w = np.array([table.get(n, table.get("_rest", 0) / max(len(rest), 1)) for n in names], float)
    return w / w.sum()


def sample_attributes(rng: np.random.Generator) -> dict[str, int]:
    """One face's attributes as class indices; -1 where the attribute does not show."""
    draw = {a: int(rng.choice(len(attribute_classes(a)), p=attribute_probabilities(a)))
            for a in ATTRIBUTES}
    top = attribute_classes("top_type")[draw["top_type"]]
    if top not in COLOURED_HAIR_TOPS:
        draw["hair_color"] = -1
    if top not in HAT_TOPS:
        draw["hat_color"] = -1
    facial = attribute_classes("facial_hair_type")[draw["facial_hair_type"]]
    if top in HAIR_TOPS and top.startswith("LONG") and facial != "DEFAULT" and rng.random() < 0.6:
        draw["facial_hair_type"] = 0  # beards are rarer with long hair
        facial = "DEFAULT"
    if facial == "DEFAULT":
        draw["facial_hair_color"] = -1
    elif draw["hair_color"] >= 0 and rng.random() < 0.8:
        hair = attribute_classes("hair_color")[draw["hair_color"]]
        classes = attribute_classes("facial_hair_color")
        if hair in classes:
            draw["facial_hair_color"] = classes.index(hair)  # beards mostly match the hair
    if attribute_classes("clothe_type")[draw["clothe_type"]] != "GRAPHIC_SHIRT":
        draw["clothe_graphic_type"] = -1
    return draw


# ---------------------------------------------------------------------------------------------
# Rendering

_TEMPLATE = None


def _part_wrapper(name: str):
    """Templates "part/<part>/<path>": the template at <path> inside a group moved by the
    render's `part_transforms[<part>]` (jinja includes share the render's variables)."""
    if not name.startswith("part/"):
        return None
    _, part, path = name.split("/", 2)
    return f'<g transform="{{{{ part_transforms["{part}"] }}}}">{{% include "{path}" ignore missing %}}</g>'


def _template():
    """The jinja template of py-avataaars, built once per process (building it is ~45 ms)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        from jinja2 import ChoiceLoader, Environment, FunctionLoader, PackageLoader
        from py_avataaars import MinifyExtension
        env = Environment(loader=ChoiceLoader([FunctionLoader(_part_wrapper), PackageLoader("py_avataaars", "templates")]),
                          trim_blocks=True, lstrip_blocks=True, autoescape=True, keep_trailing_newline=False,
                          extensions=[MinifyExtension])
        _TEMPLATE = env.get_template("main.svg")
    return _TEMPLATE


def _part_path(path: str, enum) -> str:
    """py-avataaars' template path, routed through a part's moving group where it is one."""
    from py_avataaars import PyAvataaar
    original = PyAvataaar._PyAvataaar__template_path(path, enum)
    part = _PART_OF.get(path) or ("mouth" if path == "top/facial_hair" and enum.name.startswith("MOUSTACHE") else None)
    return f"part/{part}/{original}" if part else original


def part_transforms(parts: dict[str, tuple[float, float]]) -> dict[str, str]:
    """{part: SVG transform} for offsets {part: (dx, dy)} in output pixels (eyebrows ride on the eyes)."""
    u = _UNITS_PER_PIXEL
    ex, ey = parts.get("eyes", (0.0, 0.0))
    bx, by = parts.get("eyebrows", (0.0, 0.0))
    mx, my = parts.get("mouth", (0.0, 0.0))
    moves = {"eyes": (ex, ey), "eyebrows": (ex + bx, ey + by), "mouth": (mx, my)}
    return {k: f"translate({x * u:.3f},{y * u:.3f})" for k, (x, y) in moves.items()}


def render_svg(attributes: dict[str, int], parts: dict[str, tuple[float, float]] | None = None) -> str:
    """The SVG of one face, cropped to a square around the head; `parts`: offsets of the eyes,
    eyebrows and mouth in output pixels (see PART_JITTER)."""
    from py_avataaars import AvatarStyle, PyAvataaar
    kwargs = {}
    for a in ATTRIBUTES:
        enum = _enum(FREQUENCIES[a][0])
        kwargs[a] = list(enum)[max(attributes.get(a, 0), 0)]  # hidden attributes: any value
    if parts is not None:
        kwargs["part_transforms"] = part_transforms(parts)
    svg = _template().render(
        unique_id=PyAvataaar._PyAvataaar__unique_id,
        template_path=PyAvataaar._PyAvataaar__template_path if parts is None else _part_path,
        template_name=PyAvataaar._PyAvataaar__template_name,
        style=AvatarStyle.TRANSPARENT, background_color=kwargs["hat_color"],
        nose_type=_enum("NoseType").DEFAULT, **kwargs)
    svg = PyAvataaar._PyAvataaar__simplify_ids(None, svg)  # unique short ids: cairo needs them
    head = 'width="280px" height="280px" viewBox="-6 0 274 280"'
    assert head in svg, "py-avataaars changed its base template"
    size = CROP.split()[2]  # drawn at the template's own scale: cairosvg misplaces masks when scaling
    return svg.replace(head, f'width="{size}" height="{size}" viewBox="{CROP}"')


def render(attributes: dict[str, int], pose: tuple[float, float, float] | None = None,
           parts: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """One face as a (64, 64, 3) uint8 array on the flat background. pose = (dx, dy, s): the face
    moved right by dx and down by dy output pixels and scaled by s about the centre of the crop;
    parts: the eyes, eyebrows and mouth moved within the face ({part: (dx, dy)}, output pixels)."""
    import cairosvg
    from PIL import Image
    svg = render_svg(attributes, parts)
    x0, y0, size = (float(v) for v in CROP.split()[:3])
    box = (0.0, 0.0, size, size)
    if pose is not None:
        # Drawn at the template's own scale with a margin (cairosvg misplaces masks when it
        # scales), then cropped and resampled here.
        s_old = f'width="{int(size)}" height="{int(size)}" viewBox="{CROP}"'
        big = size + 2 * _PAD
        svg = svg.replace(s_old, f'width="{big:g}" height="{big:g}" viewBox="{x0 - _PAD:g} {y0 - _PAD:g} {big:g} {big:g}"')
        dx, dy, s = pose
        side = size / s  # template units seen by the output
        unit = side / RESOLUTION  # template units per output pixel
        cx, cy = _PAD + size / 2 - dx * unit, _PAD + size / 2 - dy * unit
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    # Rendered transparent and put on the background here: cairosvg's own background_color
    # breaks the templates' masks (faces come out grey).
    png = cairosvg.svg2png(bytestring=svg.encode())
    face = Image.open(io.BytesIO(png)).convert("RGBA")
    canvas = Image.new("RGBA", face.size, BACKGROUND)
    face = Image.alpha_composite(canvas, face).convert("RGB")
    return np.asarray(face.resize((RESOLUTION, RESOLUTION), Image.Resampling.LANCZOS, box=box))


def sample_pose(rng: np.random.Generator, jitter: float) -> tuple[float, float, float]:
    """(dx, dy, s): a shift of up to `jitter` output pixels each way, uniform, and a scale
    log-uniform in [1 / POSE_SCALE, POSE_SCALE]."""
    dx, dy = rng.uniform(-jitter, jitter, 2)
    s = float(np.exp(rng.uniform(-np.log(POSE_SCALE), np.log(POSE_SCALE))))
    return float(dx), float(dy), s


def sample_parts(rng: np.random.Generator) -> tuple[float, ...]:
    """Offsets of the parts, flat (eyes dx, dy, eyebrows dx, dy, mouth dx, dy; output pixels),
    each uniform in +-PART_JITTER."""
    return tuple(float(rng.uniform(-r, r)) for part in PARTS for r in PART_JITTER[part])


def parts_dict(values) -> dict[str, tuple[float, float]]:
    """sample_parts' flat offsets as render's {part: (dx, dy)}."""
    return {part: (float(values[2 * i]), float(values[2 * i + 1])) for i, part in enumerate(PARTS)}


def _geometry(seed: int, index: int, jitter: float, parts: bool) -> dict:
    """A face's own pose and part offsets (draws of their own, so the face stays the same)."""
    out = {}
    if jitter > 0:
        out["pose"] = sample_pose(np.random.default_rng([seed, index, 2]), jitter)
    if parts:
        out["parts"] = sample_parts(np.random.default_rng([seed, index, 3]))
    return out


def _render_with(labels: dict, geometry: dict) -> np.ndarray:
    parts = geometry.get("parts")
    return render(labels, geometry.get("pose"), None if parts is None else parts_dict(parts))


def make_face(seed: int, index: int, jitter: float = 0.0, parts: bool = False) -> tuple[np.ndarray, dict[str, int]]:
    """Image `index` of the dataset with `seed`: pixels and labels (with "pose" when jitter > 0 and
    "parts" with parts: the same face as without them, posed and its parts moved by draws of
    their own)."""
    labels = sample_attributes(np.random.default_rng([seed, index]))
    geometry = _geometry(seed, index, jitter, parts)
    return _render_with(labels, geometry), {**labels, **geometry}


# ---------------------------------------------------------------------------------------------
# Twins: a training face redrawn with one attribute changed

# Which attribute a twin changes, and how often. The small features (mouth, eyes, eyebrows, beard,
# glasses) come first: in a batch of whole captions a contrastive model can tell faces apart by
# skin, hair and clothes alone and never has to look at them; a face and its twin differ in
# nothing else.
TWIN_ATTRIBUTES = {"mouth_type": 0.2, "eye_type": 0.2, "eyebrow_type": 0.12, "facial_hair_type": 0.16,
                   "accessories_type": 0.16, "hair_color": 0.08, "top_type": 0.08}


def _draw(attribute: str, rng: np.random.Generator, avoid: int = -1, uniform: bool = False) -> int:
    p = np.ones(len(attribute_classes(attribute))) if uniform else attribute_probabilities(attribute).copy()
    if avoid >= 0:
        p[avoid] = 0
    return int(rng.choice(len(p), p=p / p.sum()))


def twin_attributes(labels: dict[str, int], rng: np.random.Generator) -> tuple[dict[str, int], str]:
    """The labels of a twin of a face: one attribute (drawn from TWIN_ATTRIBUTES; its new class half
    the time by the dataset's frequencies, half the time uniformly, so rare classes get twins too)
    changed, and what depends on it made consistent (a hat's colour, a beard's colour, hair that
    a hat hides). Returns (labels, the attribute changed)."""
    names = [a for a in TWIN_ATTRIBUTES if not (a == "hair_color" and labels["hair_color"] < 0)]
    w = np.array([TWIN_ATTRIBUTES[a] for a in names])
    attribute = names[int(rng.choice(len(names), p=w / w.sum()))]
    out = dict(labels)
    out[attribute] = _draw(attribute, rng, labels[attribute], uniform=rng.random() < 0.5)
    if attribute == "top_type":
        top = attribute_classes("top_type")[out["top_type"]]
        hair, hat = labels["hair_color"], labels["hat_color"]
        out["hair_color"] = (hair if hair >= 0 else _draw("hair_color", rng)) if top in COLOURED_HAIR_TOPS else -1
        out["hat_color"] = (hat if hat >= 0 else _draw("hat_color", rng)) if top in HAT_TOPS else -1
    if attribute == "facial_hair_type":
        if attribute_classes("facial_hair_type")[out["facial_hair_type"]] == "DEFAULT":
            out["facial_hair_color"] = -1
        elif labels["facial_hair_color"] < 0:
            hair = attribute_classes("hair_color")[labels["hair_color"]] if labels["hair_color"] >= 0 else None
            classes = attribute_classes("facial_hair_color")
            out["facial_hair_color"] = classes.index(hair) if hair in classes and rng.random() < 0.8 else \
                _draw("facial_hair_color", rng)
    return out, attribute


def make_twin(seed: int, index: int, jitter: float = 0.0, parts: bool = False) -> tuple[np.ndarray, dict[str, int], str]:
    """The twin of training image `index`: pixels, labels and the attribute that differs (in the
    face's own pose and part offsets where it has them)."""
    labels = sample_attributes(np.random.default_rng([seed, index]))
    twin, attribute = twin_attributes(labels, np.random.default_rng([seed, index, 1]))
    geometry = _geometry(seed, index, jitter, parts)
    return _render_with(twin, geometry), {**twin, **geometry}, attribute


# ---------------------------------------------------------------------------------------------
# Shards

SPLITS = {"train": 0, "heldout": 10_000_000}  # index offsets: the splits never share a face


def _shard_path(out: Path, split: str, k: int) -> Path:
    return out / f"{split}-{k:05d}.npz"


def build_shard(out: str, split: str, k: int, count: int, seed: int, jitter: float = 0.0, parts: bool = False) -> str:
    """Shard k of a split. "twins": the twins of training faces k * SHARD_SIZE onwards, with
    `base` (the training face's index) and `changed` (the index in ATTRIBUTES of what differs).
    With jitter, also `pose` (count, 3) float32: dx, dy, scale (see render); with parts, `parts`
    (count, 6) float32 (see sample_parts)."""
    start = SPLITS.get(split, 0) + k * SHARD_SIZE
    images = np.empty((count, RESOLUTION, RESOLUTION, 3), np.uint8)
    labels = {a: np.empty(count, np.int16) for a in ATTRIBUTES}
    extra = {}
    if split == "twins":
        extra = {"base": np.arange(start, start + count, dtype=np.int64), "changed": np.empty(count, np.int16)}
    if jitter > 0:
        extra["pose"] = np.empty((count, 3), np.float32)
    if parts:
        extra["parts"] = np.empty((count, 2 * len(PARTS)), np.float32)
    for j in range(count):
        if split == "twins":
            images[j], lab, changed = make_twin(seed, start + j, jitter, parts)
            extra["changed"][j] = ATTRIBUTES.index(changed)
        else:
            images[j], lab = make_face(seed, start + j, jitter, parts)
        for key in ("pose", "parts"):
            if key in extra:
                extra[key][j] = lab[key]
        for a in ATTRIBUTES:
            labels[a][j] = lab[a]
    path = _shard_path(Path(out), split, k)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, **labels, **extra)
    os.replace(tmp, path)  # a shard exists only once complete
    return str(path)


def pose_words(meta: dict) -> str | None:
    """How a dataset.json (or a card's copy of its "pose") says its faces were posed, in words:
    "moved by up to 6 px and scaled by up to 1.12"; None for upright faces."""
    if "pose" not in meta:
        return None
    return f"moved by up to {meta['pose']['jitter_px']:g} px and scaled by up to {meta['pose']['scale']:g}"


def build(out: str | Path, n_train: int = 50_000, n_heldout: int = 5_000, seed: int = 0,
          workers: int = 2, progress: bool = True, n_twins: int = 0, jitter: float = 0.0, parts: bool = False) -> None:
    """Build (or finish building) the dataset in `out`. n_twins: also the twins of the first
    n_twins training faces (for the embedded CLIP's training); they can be added later.
    jitter > 0: every face posed (moved by up to jitter px, scaled; see sample_pose); parts:
    every face's eyes, eyebrows and mouth moved (see PART_JITTER)."""
    if n_twins > n_train:
        raise ValueError("there are twins only of training faces: n_twins <= n_train")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"seed": seed, "n_train": n_train, "n_heldout": n_heldout, "resolution": RESOLUTION,
            "background": BACKGROUND, "crop": CROP, "attributes":
            {a: attribute_classes(a) for a in ATTRIBUTES}}
    if jitter > 0:
        meta["pose"] = {"jitter_px": jitter, "scale": POSE_SCALE}
    if parts:
        meta["parts"] = {part: list(r) for part, r in PART_JITTER.items()}
    meta_path = out / "dataset.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != meta:
            raise SystemExit(f"{out} holds a dataset built with other settings; use another --out")
    meta_path.write_text(json.dumps(meta, indent=1))
    jobs = []
    for split, n in (("train", n_train), ("heldout", n_heldout), ("twins", n_twins)):
        for k in range((n + SHARD_SIZE - 1) // SHARD_SIZE):
            if not _shard_path(out, split, k).exists():
                jobs.append((str(out), split, k, min(SHARD_SIZE, n - k * SHARD_SIZE), seed, jitter, parts))
    from tqdm import tqdm
    bar = tqdm(total=len(jobs), unit="shard", disable=not progress)
    if workers <= 1:
        for job in jobs:
            build_shard(*job)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(build_shard, *zip(*jobs)) if jobs else []:
                bar.update()
    bar.close()


def load_split(folder: str | Path, split: str = "train") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All shards of a split: images (N, 64, 64, 3) uint8 and labels {attribute: (N,) int64}
    (for "twins" also "base" and "changed", see build_shard)."""
    paths = sorted(Path(folder).glob(f"{split}-*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")]
    if not paths:
        raise FileNotFoundError(f"no {split} shards in {folder}; build them with "
                                f"python -m training.avatars --out {folder}")
    shards = [np.load(p) for p in paths]
    images = np.concatenate([s["images"] for s in shards])
    labels = {a: np.concatenate([s[a] for s in shards]).astype(np.int64) for a in ATTRIBUTES + ["base", "changed"]
              if a in shards[0]}
    for key in ("pose", "parts"):
        if key in shards[0]:
            labels[key] = np.concatenate([s[key] for s in shards])
    return images, labels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="data/avataaars")
    p.add_argument("--train", type=int, default=50_000)
    p.add_argument("--heldout", type=int, default=5_000)
    p.add_argument("--twins", type=int, default=0, help="also render twins of this many training faces")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jitter", type=float, default=0.0, help="pose every face: moved by up to this many px, scaled")
    p.add_argument("--parts", action="store_true", help="move every face's eyes, eyebrows and mouth (PART_JITTER)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args(argv)
    build(a.out, a.train, a.heldout, a.seed, a.workers, n_twins=a.twins, jitter=a.jitter, parts=a.parts)


if __name__ == "__main__":
    main()
