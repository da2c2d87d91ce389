"""A Workspace: one loaded generator with everything the page does with it.

It owns the generator, its companions (studio.companions: what the model declares, loaded when
first needed), its per-model defaults (class, noise mode, layer presets) and its cached
analyses (SeFa and GANSpace directions, attribute boundaries, style statistics, relevances),
and checks the arguments every tab shares (seeds, ψ, class, noise, w ranges, latents). Each tab
is a small task object (studio/tasks/) behind this facade: the methods below are the tabs'
entry points, and they return plain values (PIL images, tensors, file paths).

Requests may run at once on one Workspace: nothing here changes the shared generator.
StyleGAN3 translate/rotate passes a per-call transform; StyleSpace edits run on a private
copy (editing.stylespace.edit_styles); analyses are computed once under a per-key lock.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch

from editing import MAX_SEED
from editing import projection as proj
from editing.generate import MAX_IMAGES, latents_tuned_key, load_latents, parse_seeds, save_latents
from editing.latents import PRESETS, mixing_preset, preset_label, seeds_to_ws
from editing.stylespace import style_layers
from ops.config import release_memory
from ops.memo import Memo

from . import inputs
from .companions import ModelCompanions
from .errors import StudioError
from .runloop import PREVIEW_SECONDS, projection_time_limit  # noqa: F401  (the page's names)
from .tasks.directions import DIRECTION_METHODS, NUM_COMPONENTS, DirectionEdit, Directions, StyleSpace
from .tasks.drag import MAX_DRAG_STEPS, MAX_POINTS, Drag, DragUpdate
from .tasks.generate import MAX_FRAMES, MAX_GRID, MAX_MIX_SEEDS, Gallery, Generate, Interpolate, StyleMixing, WalkFrame
from .tasks.inspect import Inspect, Inspection
from .tasks.project import MAX_ENCODER_ITERATIONS, MAX_PROJECTION_STEPS, RECIPES, Image2StyleGAN, Project, ProjectUpdate, tuned_keep
from .tasks.text_edit import MAX_PROMPT, MAX_TEXT_STEPS, TEXT_METHODS, TextEdit, TextEditUpdate

NOISE_MODES = ("const", "random", "none")
PSI_RANGE = (-1.0, 1.5)


@dataclass
class Start:
    """The page's current latent and the generator it belongs to: a PTI result's tuned copy while
    it is kept, else the model itself."""
    ws: torch.Tensor
    G: torch.nn.Module
    tuned: Optional[str] = None          # the tuned generator's key, carried into the result's .npz
    note: str = ""

# The page's own .npz downloads, by file name: what the "Acting on" line calls them.
LATENT_KINDS = {"projection": "a projection", "text_edit": "a text edit", "drag": "a drag",
                "edited_latents": "a direction edit", "latents": "generated seeds", "mixed_latents": "a style mix",
                "expression": "an expression transfer", "crossover": "a crossover"}

__all__ = ["Workspace", "Gallery", "WalkFrame", "DirectionEdit", "ProjectUpdate", "TextEditUpdate", "NOISE_MODES",
           "DIRECTION_METHODS", "NUM_COMPONENTS", "MAX_FRAMES", "MAX_GRID", "MAX_MIX_SEEDS", "RECIPES",
           "MAX_PROJECTION_STEPS", "MAX_ENCODER_ITERATIONS",
           "MAX_DRAG_STEPS", "MAX_POINTS", "DragUpdate", "TEXT_METHODS", "MAX_TEXT_STEPS", "MAX_PROMPT", "PSI_RANGE"]


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


class Workspace:
    def __init__(self, G: torch.nn.Module, label: str, classifier=None, encoder=None,
                 clip_loader: Optional[Callable[[], object]] = None, companions: Optional[ModelCompanions] = None,
                 faces: bool = False, default_class: int = 0, noise_mode: str = "const"):
        self.G = G
        self.label = label                                  # what the visitor calls this model
        self.companions = companions or ModelCompanions(device=self.device)
        # Networks handed in directly (scripts, tests) win over the declared ones.
        self.given = {"classifier": classifier, "encoder": encoder}
        self.clip_loader = clip_loader if clip_loader is not None else self.companions.clip
        self.faces = faces                                  # FFHQ-aligned faces: uploads are aligned by default
        self.default_class = default_class                  # conditional models: the class used when none is given
        self.noise_mode = noise_mode
        self._analyses = Memo()
        self._tuned = Memo(limit=tuned_keep(), on_drop=release_memory)                # PTI results' generators, by key
        self.generate_task, self.mixing_task, self.interpolate_task = Generate(self), StyleMixing(self), Interpolate(self)
        self.directions_task, self.stylespace_task = Directions(self), StyleSpace(self)
        self.project_task, self.image2stylegan_task = Project(self), Image2StyleGAN(self)
        self.text_edit_task = TextEdit(self)
        self.drag_task = Drag(self)
        self.inspect_task = Inspect(self)

    # --- what the model is --------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    @property
    def classifier(self):
        """The attribute classifier: handed in, or the model's declared one where it is on this disk."""
        given = self.given["classifier"]
        return given if given is not None else self.companions.local_network("classifier")

    @property
    def encoder(self):
        """The projection encoder: handed in, or the model's declared one where it is on this disk
        (a declared remote one downloads when a recipe needs it: Project)."""
        given = self.given["encoder"]
        return given if given is not None else self.companions.local_network("encoder")

    def to(self, device) -> "Workspace":
        """Move every network this workspace owns to `device`, as a diffusers pipeline's .to() moves
        its components: the generator and the networks handed in now, the declared companions
        (and the CLIP) where they are next used. Cached analyses stay valid: their tensors are
        moved where used."""
        device = torch.device(device)
        self.G.to(device)
        for net in self.given.values():
            if net is not None:
                net.to(device)
        self.companions.to(device)
        return self

    @property
    def is_stylegan3(self) -> bool:
        return hasattr(self.G.synthesis, "layer_names")

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    def describe(self) -> str:
        G = self.G
        ignored = getattr(G, "ignored_config_keys", None)
        return (f"{type(G).__name__}: {G.img_resolution}x{G.img_resolution}, {G.img_channels} channels, "
                f"z {G.z_dim}, w {G.w_dim}, {G.num_ws} ws" + (f", {G.c_dim} classes" if G.c_dim else "")
                + (f" (config.json keys it does not take were ignored: {', '.join(ignored)})" if ignored else ""))

    def describe_companions(self) -> str:
        """What the model declares beside it, which of it is here, and what each adds."""
        return self.companions.describe()

    def presets(self) -> dict[str, list[int]]:
        """{coarse/middle/fine: the ws each takes}."""
        return {name: mixing_preset(self.G, name) for name in PRESETS}

    def preset_labels(self) -> list[tuple[str, str]]:
        """[(label, preset)], e.g. ('coarse: ws 0-3', 'coarse'), and the free range."""
        return [(preset_label(self.G, name), name) for name in PRESETS] + [("custom range", "custom")]

    def style_layer_names(self) -> list[str]:
        return list(style_layers(self.G))

    # --- argument checks every tab shares -------------------------------------------------

    def psi(self, value) -> float:
        return inputs.number(value, "truncation ψ", *PSI_RANGE)

    def class_index(self, value) -> Optional[int]:
        """The class of a conditional model (None = the default class); None for an unconditional one."""
        if value is None or value == "":
            return self.default_class if self.G.c_dim else None
        idx = inputs.integer(value, "class", 0, self.G.c_dim - 1 if self.G.c_dim else MAX_SEED)  # ignored when unconditional
        return idx if self.G.c_dim else None

    def noise(self, value) -> str:
        return self.noise_mode if value is None else inputs.choice(value, "noise mode", NOISE_MODES)

    def w_range(self, first, last, field="layers") -> list[int]:
        hi = self.num_ws - 1
        a, b = inputs.integer(first, f"first w ({field})", 0, hi), inputs.integer(last, f"last w ({field})", 0, hi)
        if a > b:
            raise StudioError(f"{field}: the first w ({a}) comes after the last ({b}); ws run from 0 to {hi} for this model")
        return list(range(a, b + 1))

    def seeds(self, text, field="seeds", limit=MAX_IMAGES) -> list[int]:
        try:
            return parse_seeds(inputs.text(text, field, 2000), limit=limit)
        except ValueError as e:
            raise StudioError(f"{field}: {e}") from None

    def latents(self, path) -> torch.Tensor:
        """W+ from an uploaded .npz (key 'w'), checked against this model before it is read."""
        try:
            ws = load_latents(path, self.G)
        except ValueError as e:
            raise StudioError(str(e)) from None
        return ws.to(self.device)

    def start_latent(self, seed=0, psi=0.7, class_idx=None, latents=None) -> torch.Tensor:
        """The page's current latent: an uploaded .npz (a projection, an earlier edit), else a seed's W+."""
        if latents:
            return self.latents(latents)[:1]
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        return seeds_to_ws(self.G, [seed], self.psi(psi), class_idx=self.class_index(class_idx))

    def start(self, seed=0, psi=0.7, class_idx=None, latents=None) -> Start:
        """start_latent with the generator it is edited with: the tuned copy named by a PTI
        result's .npz while this workspace keeps it, else the model (with a note saying so)."""
        ws = self.start_latent(seed, psi, class_idx, latents)
        key = latents_tuned_key(latents) if latents else None
        if key is None:
            return Start(ws, self.G)
        G = self._tuned.peek(key)
        if G is None:
            return Start(ws, self.G, None, "this latent's PTI-tuned generator is no longer kept "
                                            f"(the {tuned_keep()} most recent are): edited with the model itself")
        return Start(ws, G, key, "with its PTI-tuned generator")

    def current(self, seed=0, psi=0.7, class_idx=None, latents=None, size: int = 128):
        """What the editing tabs act on, shown where they are: a thumbnail (PIL, at most `size`
        px a side) and a line saying what it is (a seed, a projection, an earlier edit, with its
        PTI-tuned generator where there is one)."""
        import PIL.Image

        from editing.generate import synthesize
        from ops.images import to_pil
        start = self.start(seed, psi, class_idx, latents)
        image = to_pil(synthesize(start.G, start.ws, self.noise(None)))[0]
        if max(image.size) > size:
            image = image.resize((size, size), PIL.Image.Resampling.LANCZOS)
        return image, self.current_note(seed, psi, latents, checked=True)

    def current_note(self, seed=0, psi=0.7, latents=None, checked: bool = False) -> str:
        """current()'s line alone: no model runs (the page shows it on load, where a ZeroGPU
        Space must spend no GPU call). `checked`: the latents were already read by start()."""
        if not latents:
            what = f"seed {inputs.integer(seed, 'seed', 0, MAX_SEED)} (ψ {self.psi(psi):g})"
            note = ""
        else:
            try:  # a file that is not latents of this model says so here (read, not moved to the device)
                if not checked:
                    load_latents(latents, self.G)
            except ValueError as e:
                raise StudioError(str(e)) from None
            name = str(latents).replace("\\", "/").rsplit("/", 1)[-1]
            name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)  # shown as Markdown: a visitor's file name makes no link
            kind = LATENT_KINDS.get(name.rsplit(".", 1)[0])
            name = name if len(name) <= 48 else name[:45] + "…"
            what = f"{kind} ({name})" if kind else f"the latents in {name}"
            key = latents_tuned_key(latents)
            note = "" if key is None else ("with its PTI-tuned generator" if self._tuned.peek(key) is not None else
                                           "whose PTI-tuned generator is no longer kept: the model itself")
        return f"Acting on {what}" + (f", {note}" if note else "") + "."

    def keep_tuned(self, G: torch.nn.Module) -> str:
        """Keep a PTI-tuned generator (bounded: tuned_keep()) and return its key, an unguessable
        name that only the result's .npz carries."""
        key = secrets.token_hex(16)
        self._tuned.put(key, G)
        return key

    # --- cached analyses ----------------------------------------------------------------

    def analysis(self, key, compute: Callable[[], object]):
        """compute() once per key for this model; concurrent requests for one key wait for it."""
        return self._analyses.get(key, compute)

    def prepare(self, task: str, recipe=None) -> None:
        """Load what a task's networks need before the task runs (ZeroGPU: in the main process,
        where it stays): "project" the recipe's encoder (downloaded where declared) and perceptual
        network (LPIPS or VGG16 layers, and the VGG16 weights download), "text_edit" the CLIP.
        Nothing here raises: the task itself gives the message."""
        try:
            if task == "project":
                name = recipe if recipe in proj.RECIPES else self.default_recipe()
                r = proj.RECIPES[name]
                if r.init == "encoder" and self.given["encoder"] is None:
                    self.companions.network("encoder")
                if r.steps:
                    from companions.perceptual import perceptual
                    perceptual(r.distance, self.G.img_resolution, self.classifier, device=self.device)
            elif task == "text_edit" and self.clip_loader is not None:
                self.clip()
        except Exception:
            pass

    def analysis_keys(self) -> set:
        return set(self._analyses.keys()) | {("tuned", k) for k in self._tuned.keys()}

    def analyses_since(self, known: set) -> dict:
        """The analyses computed since `known` (analysis_keys() earlier), their tensors on the CPU:
        what a call run in another process (ZeroGPU's worker) hands back to the main one. A tuned
        generator goes back as its synthesis weights."""
        out = {k: _to_cpu(v) for k, v in self._analyses.items() if k not in known}
        for key, G in self._tuned.items():
            if ("tuned", key) not in known:
                out[("tuned", key)] = {"synthesis": _to_cpu(G.synthesis.state_dict())}
        return out

    def keep_analyses(self, entries: dict) -> None:
        for key, value in entries.items():
            if isinstance(key, tuple) and key[:1] == ("tuned",):
                if key[1] not in self._tuned:  # run in another process: rebuild the copy here
                    from editing.pti import tuned_copy
                    G = tuned_copy(self.G).requires_grad_(False)
                    G.synthesis.load_state_dict(value["synthesis"])
                    self._tuned.put(key[1], G)
                continue
            self._analyses.put(key, value)

    # --- the tabs (studio/tasks/) -----------------------------------------------------------

    def generate_one(self, seed, psi=0.7, noise_mode=None, class_idx=None):
        return self.generate_task.one(seed, psi, noise_mode, class_idx)

    def generate(self, seeds, psi=0.7, truncation_cutoff=0, noise_mode=None, class_idx=None, translate=(0.0, 0.0),
                 rotate=0.0) -> Iterator[Gallery]:
        return self.generate_task.gallery(seeds, psi, truncation_cutoff, noise_mode, class_idx, translate, rotate)

    def mixing_layers(self, preset, first=None, last=None) -> list[int]:
        return self.mixing_task.layers(preset, first, last)

    def style_mix(self, row_seeds, col_seeds, preset="middle", first=None, last=None, psi=0.7, noise_mode=None,
                  class_idx=None, latents=None):
        return self.mixing_task.grid(row_seeds, col_seeds, preset, first, last, psi, noise_mode, class_idx, latents)

    def walk(self, path: str, seeds, frames_per_key=30, fps=30, grid_rows=1, grid_cols=1, loop=True, psi=0.7,
             noise_mode=None, class_idx=None, latents=None) -> Iterator[WalkFrame]:
        return self.interpolate_task.walk(path, seeds, frames_per_key, fps, grid_rows, grid_cols, loop, psi, noise_mode,
                                          class_idx, latents)

    def attribute_choices(self) -> list[str]:
        return self.directions_task.attribute_choices()

    def direction_choices(self) -> list[str]:
        """The declared direction files, by name (Directions' "Declared" method)."""
        return self.directions_task.declared_choices()

    def find_direction(self, method, index, attribute, layers):
        return self.directions_task.find(method, index, attribute, layers)

    def direction(self, seed=0, method="SeFa", index=0, attribute=None, strength=3.0, first=0, last=-1, psi=0.7,
                  class_idx=None, latents=None) -> DirectionEdit:
        return self.directions_task.edit(seed, method, index, attribute, strength, first, last, psi, class_idx, latents)

    def stylespace(self, seed=0, layer=None, channel=0, strength=10.0, psi=0.7, class_idx=None):
        return self.stylespace_task.edit(seed, layer, channel, strength, psi, class_idx)

    def recipes(self) -> list[str]:
        return self.project_task.recipes()

    def default_recipe(self) -> str:
        return self.project_task.default_recipe()

    def prepare_image(self, path, align=None):
        return self.project_task.prepare_image(path, align)

    def project(self, image, recipe=None, steps=None, align=None, seed=0, video_path: Optional[str] = None,
                time_limit: Optional[float] = None, class_idx=None, iterations=None) -> Iterator[ProjectUpdate]:
        return self.project_task.run(image, recipe, steps, align, seed, video_path, time_limit, class_idx, iterations)

    def morph(self, path: str, latents_a, latents_b, frames=60, fps=30) -> Iterator[WalkFrame]:
        return self.image2stylegan_task.morph(path, latents_a, latents_b, frames, fps)

    def expression_transfer(self, target, neutral, expressive, strength=1.0, first=0, last=-1):
        return self.image2stylegan_task.expression_transfer(target, neutral, expressive, strength, first, last)

    def crossover(self, content, style, k=None):
        return self.image2stylegan_task.crossover(content, style, k)

    def clip(self):
        return self.text_edit_task.clip()

    def text_methods(self) -> list[str]:
        return self.text_edit_task.methods()

    def text_edit(self, prompt, neutral="", method="global (fast)", alpha=4.0, beta=0.2, steps=None, seed=0, psi=0.7,
                  class_idx=None, latents=None, time_limit: Optional[float] = None) -> Iterator[TextEditUpdate]:
        return self.text_edit_task.run(prompt, neutral, method, alpha, beta, steps, seed, psi, class_idx, latents,
                                       time_limit)

    def relevance_estimate(self, clip) -> tuple:
        return self.text_edit_task.relevance_estimate(clip)

    def drag(self, points, seed=0, psi=0.7, class_idx=None, latents=None, steps=None,
             time_limit: Optional[float] = None, mask=None) -> Iterator[DragUpdate]:
        return self.drag_task.run(points, seed, psi, class_idx, latents, steps, time_limit, mask)

    def inspect(self, seed=0, psi=0.7, class_idx=None, latents=None, layer=None, channel=-1, translate=(0.0, 0.0),
                rotate=0.0) -> Inspection:
        return self.inspect_task.run(seed, psi, class_idx, latents, layer, channel, translate, rotate)

    # --- files --------------------------------------------------------------------------

    @staticmethod
    def save_latents(path: str, ws: torch.Tensor, z=None, seeds=None, tuned: Optional[str] = None, **groups) -> str:
        """Any result's latents as .npz (editing.generate.save_latents: 'w', and noise.<layer>,
        styles.<layer> groups; `tuned`, the key of a PTI result's generator)."""
        return save_latents(path, ws, z=z, seeds=seeds, tuned=tuned, **groups)
