"""Generate (one seed, a gallery of seeds), Style mixing and Interpolate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import PIL.Image
import torch

from editing import MAX_SEED
from editing.generate import default_batch, mixing_grid_image, seeds_to_z, synthesize
from editing.latents import PRESETS, mixing_preset, mixing_ws, render_mixing_grid, seeds_to_ws
from editing.video import Mp4Writer, num_frames, walk_frames
from ops.images import to_pil

from .. import inputs
from ..errors import StudioError
from . import Task

MAX_FRAMES = 600       # frames in one video
MAX_GRID = 4           # rows or columns of a video grid
MAX_MIX_SEEDS = 8      # rows or columns of a style-mixing grid


@dataclass
class Gallery:
    """What generate() yields after each batch: the images so far; latents once done."""
    images: list                        # PIL images
    seeds: list                         # their seeds
    total: int                          # how many were asked for
    ws: Optional[torch.Tensor] = None   # [N, num_ws, w_dim] once every image is done
    z: Optional[torch.Tensor] = None

    @property
    def done(self) -> bool:
        return self.ws is not None


@dataclass
class WalkFrame:
    """What walk() yields: the latest frame; the video's path once it is complete."""
    frame: np.ndarray                   # (H, W, 3) uint8
    count: int
    total: int
    path: Optional[str] = None


class Generate(Task):
    def one(self, seed, psi=0.7, noise_mode=None, class_idx=None) -> tuple[PIL.Image.Image, str]:
        w = self.w
        seed = inputs.integer(seed, "seed", 0, MAX_SEED)
        c = w.class_index(class_idx)
        ws = seeds_to_ws(self.G, [seed], w.psi(psi), class_idx=c)
        image = to_pil(synthesize(self.G, ws, w.noise(noise_mode)))[0]
        return image, w.describe() + (f" (class {c} shown)" if c is not None else "")

    def gallery(self, seeds, psi=0.7, truncation_cutoff=0, noise_mode=None, class_idx=None,
                translate=(0.0, 0.0), rotate=0.0) -> Iterator[Gallery]:
        """Images of a seed list ("0-7", "1,5,9"), yielded batch by batch."""
        w = self.w
        seed_list = w.seeds(seeds)
        psi = w.psi(psi)
        cutoff = inputs.integer(truncation_cutoff, "truncation cutoff", 0, w.num_ws) or None
        noise, c = w.noise(noise_mode), w.class_index(class_idx)
        tx = inputs.number(translate[0], "translate x", -1, 1)
        ty = inputs.number(translate[1], "translate y", -1, 1)
        rot = inputs.number(rotate, "rotate", -180, 180)
        if (tx, ty, rot) != (0.0, 0.0, 0.0) and not w.is_stylegan3:
            raise StudioError("translate and rotate need a StyleGAN3 model")
        ws = seeds_to_ws(self.G, seed_list, psi, cutoff, c)
        images, batch = [], default_batch(self.G)
        for i in range(0, len(seed_list), batch):
            images += to_pil(synthesize(self.G, ws[i:i + batch], noise, (tx, ty), rot))
            if len(images) < len(seed_list):
                yield Gallery(list(images), seed_list[:len(images)], len(seed_list))
        yield Gallery(images, seed_list, len(seed_list), ws=ws, z=seeds_to_z(self.G, seed_list))


class StyleMixing(Task):
    def layers(self, preset, first=None, last=None) -> list[int]:
        preset = inputs.choice(preset, "styles taken from the columns", PRESETS + ("custom",))
        return mixing_preset(self.G, preset) if preset in PRESETS else self.w.w_range(first, last, "custom range")

    def grid(self, row_seeds, col_seeds, preset="middle", first=None, last=None, psi=0.7, noise_mode=None,
             class_idx=None, latents=None) -> tuple[PIL.Image.Image, torch.Tensor, str]:
        """The official style-mixing grid; returns it, the cells' latents and a note. latents
        (an .npz, e.g. a projection): its first latent is the first row, before the row seeds'."""
        w = self.w
        extra = w.latents(latents)[:1] if latents else None
        rows = w.seeds(row_seeds, "row seeds", MAX_MIX_SEEDS - (extra is not None))
        cols = w.seeds(col_seeds, "column seeds", MAX_MIX_SEEDS)
        layers = self.layers(preset, first, last)
        cells, row_ws, col_ws = mixing_ws(self.G, rows, cols, layers, w.psi(psi), w.class_index(class_idx), extra)
        grid, row_img, col_img = render_mixing_grid(self.G, cells, row_ws, col_ws, w.noise(noise_mode))
        note = f"ws {layers[0]}-{layers[-1]} from the columns" if layers else "no ws mixed at this resolution"
        return mixing_grid_image(grid, row_img, col_img), cells, note


class Interpolate(Task):
    def walk(self, path: str, seeds, frames_per_key=30, fps=30, grid_rows=1, grid_cols=1, loop=True, psi=0.7,
             noise_mode=None, class_idx=None, latents=None) -> Iterator[WalkFrame]:
        """A looping walk through keyframe seeds, written to `path` as H.264 MP4 a frame at a
        time; yields every frame (the last one carries the path). latents (an .npz, e.g. a
        projection): the walk starts from its first latent (1x1 grid)."""
        w = self.w
        rows = inputs.integer(grid_rows, "grid rows", 1, MAX_GRID)
        cols = inputs.integer(grid_cols, "grid columns", 1, MAX_GRID)
        fpk = inputs.integer(frames_per_key, "frames per keyframe", 2, 120)
        fps = inputs.integer(fps, "frames per second", 1, 60)
        loop = inputs.flag(loop, "loop")
        cells = rows * cols
        start = w.latents(latents)[:1] if latents else None
        if start is not None and cells != 1:
            raise StudioError("a walk from latents takes a 1x1 grid")
        seed_list = w.seeds(seeds, "keyframe seeds", 16 * cells)
        keys = len(seed_list) + (start is not None)
        if keys < 2 * cells or len(seed_list) % cells:
            raise StudioError(f"a {rows}x{cols} grid needs a multiple of {cells} keyframe seeds, at least {2 * cells}")
        total = num_frames(keys // cells, fpk, loop)
        if total > MAX_FRAMES:
            raise StudioError(f"that is {total} frames; at most {MAX_FRAMES} per video (fewer seeds or frames per keyframe)")
        frames = walk_frames(self.G, seed_list, fpk, w.psi(psi), loop, (rows, cols), w.noise(noise_mode),
                             class_idx=w.class_index(class_idx), start=start)
        with Mp4Writer(path, fps=fps) as writer:
            for frame in frames:
                rgb = writer.write(frame)
                if writer.count < total:
                    yield WalkFrame(rgb, writer.count, total)
        yield WalkFrame(rgb, total, total, path)
