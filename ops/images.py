"""Image conversion shared by every layer above: network tensors ([N, C, H, W], about [-1, 1])
to and from uint8 arrays and PIL images, rounded as NVIDIA's scripts round them."""
import numpy as np
import PIL.Image
import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in about [-1, 1] -> (N, H, W, C) uint8, rounded as the official scripts do."""
    return (img.detach().float().permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 -> float [N, C, H, W] in [-1, 1]: what the networks take and give."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def to_pil(img: torch.Tensor) -> list:
    """[N, C, H, W] in about [-1, 1] -> PIL images (RGB, RGBA, or grey: the first channel)."""
    img = to_uint8(img)
    if img.shape[-1] == 3:
        return [PIL.Image.fromarray(a, "RGB") for a in img]
    if img.shape[-1] == 4:
        return [PIL.Image.fromarray(a, "RGBA") for a in img]
    return [PIL.Image.fromarray(a[:, :, 0], "L") for a in img]


def image_grid(images: torch.Tensor, rows: int, cols: int) -> PIL.Image.Image:
    """[rows * cols, C, H, W] in [-1, 1], row-major -> one PIL image."""
    n, C, H, W = images.shape
    assert n == rows * cols, (n, rows, cols)
    grid = images.reshape(rows, cols, C, H, W).permute(2, 0, 3, 1, 4).reshape(1, C, rows * H, cols * W)
    return to_pil(grid)[0]
