"""Looping latent walks written as MP4 (H.264 through PyAV, which ships its own FFmpeg).

As NVIDIA's gen_video.py: keyframe latents in W, a periodic cubic spline through them so the
loop has no seam, and optionally a grid of cells each walking through its own keyframes.

    frames = walk_frames(G, seeds=[1, 2, 3], frames_per_key=30)     # [T, C, H, W] iterator, batched
    write_mp4(frames, "walk.mp4", fps=30, total=90, progress=print)
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import scipy.interpolate
import torch

from ops.images import to_uint8

from .generate import default_batch
from .latents import seeds_to_ws


def spline_ws(key_ws: torch.Tensor, frames_per_key: int, loop: bool = True) -> torch.Tensor:
    """W+ for every frame: a cubic spline through key_ws [K, num_ws, w_dim] (periodic when
    looping: frame K * frames_per_key would be frame 0 again). [T, num_ws, w_dim]"""
    K = len(key_ws)
    if K < 2:
        raise ValueError("a walk needs at least 2 keyframes")
    keys = key_ws.detach().double().cpu().numpy()
    if loop:
        knots = np.arange(K + 1)
        spline = scipy.interpolate.CubicSpline(knots, np.concatenate([keys, keys[:1]]), axis=0, bc_type="periodic")
        t = np.arange(K * frames_per_key) / frames_per_key
    else:
        spline = scipy.interpolate.CubicSpline(np.arange(K), keys, axis=0, bc_type="natural")
        t = np.linspace(0, K - 1, (K - 1) * frames_per_key + 1)
    return torch.from_numpy(spline(t)).to(key_ws.device, torch.float32)


def num_frames(num_keys: int, frames_per_key: int, loop: bool = True) -> int:
    return num_keys * frames_per_key if loop else (num_keys - 1) * frames_per_key + 1


@torch.no_grad()
def walk_frames(G, seeds: Sequence[int], frames_per_key: int = 30, truncation_psi: float = 1.0, loop: bool = True,
                grid: tuple[int, int] = (1, 1), noise_mode: str = "const", batch_size: Optional[int] = None,
                class_idx: Optional[int] = None, start: Optional[torch.Tensor] = None) -> Iterator[torch.Tensor]:
    """Frames [C, H*rows, W*cols] of a walk through the seeds' latents. With grid (rows, cols),
    seeds are split into rows*cols cells (as gen_video.py: cell i walks seeds i, i + cells, ...).
    start [1, num_ws, w_dim] (a projection, say): the first keyframe, before the seeds' (1x1 only)."""
    rows, cols = grid
    cells = rows * cols
    batch_size = batch_size or default_batch(G)
    if start is not None and cells != 1:
        raise ValueError("a walk from given latents takes a 1x1 grid")
    keys = len(seeds) + (0 if start is None else 1)
    if keys < 2 * cells or len(seeds) % cells:
        raise ValueError(f"a {rows}x{cols} grid needs a multiple of {cells} seeds, at least {2 * cells}")
    ws = seeds_to_ws(G, list(seeds), truncation_psi, class_idx=class_idx)  # [K * cells, num_ws, w_dim]
    if start is not None:
        ws = torch.cat([start[:1].to(ws), ws])
    keys = ws.reshape(-1, cells, *ws.shape[1:])  # [K, cells, ...]
    paths = [spline_ws(keys[:, c], frames_per_key, loop) for c in range(cells)]  # cells x [T, ...]
    T = len(paths[0])
    for start in range(0, T, max(1, batch_size // cells)):
        stop = min(T, start + max(1, batch_size // cells))
        batch = torch.stack([p[start:stop] for p in paths], dim=1).reshape(-1, *ws.shape[1:])  # [(t, cell), ...]
        img = G.synthesis(batch, noise_mode=noise_mode)
        C, H, W = img.shape[1:]
        img = img.reshape(stop - start, rows, cols, C, H, W).permute(0, 3, 1, 4, 2, 5).reshape(stop - start, C, rows * H, cols * W)
        yield from img


def to_rgb_uint8(frame: torch.Tensor) -> np.ndarray:
    """[C, H, W] in about [-1, 1] -> (H, W, 3) uint8 (grey images repeated to RGB)."""
    x = to_uint8(frame.unsqueeze(0))[0]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(x[:, :, :3])


class Mp4Writer:
    """An H.264 MP4 written a frame at a time ([C, H, W] tensors in [-1, 1] or (H, W, 3) uint8), so
    a caller can show previews between frames. Odd sizes are padded by one pixel (yuv420p needs
    even sides). Use as a context manager; the file is complete once it closes without error."""

    def __init__(self, path: str, fps: int = 30, crf: int = 18):
        import av
        self._av = av
        self.container = av.open(path, mode="w")
        self.fps, self.crf = int(fps), crf
        self.stream = None
        self.count = 0
        self.closed = False

    def write(self, frame: torch.Tensor | np.ndarray) -> np.ndarray:
        """Encode one frame; returns it as (H, W, 3) uint8."""
        rgb = frame if isinstance(frame, np.ndarray) else to_rgb_uint8(frame)
        if self.stream is None:
            h, w = rgb.shape[:2]
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height = w + w % 2, h + h % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(self.crf)}
        padded = rgb
        if rgb.shape[0] % 2 or rgb.shape[1] % 2:
            padded = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)), mode="edge")
        for packet in self.stream.encode(self._av.VideoFrame.from_ndarray(padded, format="rgb24")):
            self.container.mux(packet)
        self.count += 1
        return rgb

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.stream is None:
                raise ValueError("no frames to write")
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()

    def abandon(self) -> None:
        """Close the file without finishing it (a stopped or failed job's video is not kept)."""
        if not self.closed:
            self.closed = True
            self.container.close()

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()


def write_mp4(frames: Iterable[torch.Tensor | np.ndarray], path: str, fps: int = 30, total: Optional[int] = None,
              progress: Optional[Callable[[int, Optional[int]], None]] = None, crf: int = 18) -> int:
    """Encode frames as H.264 MP4 (see Mp4Writer); returns the frame count."""
    with Mp4Writer(path, fps, crf) as writer:
        for frame in frames:
            writer.write(frame)
            if progress is not None:
                progress(writer.count, total)
    return writer.count
