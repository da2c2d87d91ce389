"""Seeds -> images, exactly as NVIDIA's gen_images.py turns a seed into z, so a seed gives
the same image here as there."""
from typing import Optional, Sequence

import numpy as np
import PIL.Image
import torch

MAX_SEED = 2 ** 32 - 1  # what np.random.RandomState accepts


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """z of a seed as the official scripts draw it: RandomState(seed).randn(1, z_dim)."""
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return np.random.RandomState(seed).randn(1, z_dim)


def to_pil(img: torch.Tensor) -> list:
    """[N, C, H, W] in about [-1, 1] -> PIL images, rounded as the official scripts do."""
    img = (img.detach().float().permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()
    if img.shape[-1] == 1:
        return [PIL.Image.fromarray(a[:, :, 0], "L") for a in img]
    if img.shape[-1] == 3:
        return [PIL.Image.fromarray(a, "RGB") for a in img]
    if img.shape[-1] == 4:
        return [PIL.Image.fromarray(a, "RGBA") for a in img]
    return [PIL.Image.fromarray(a[:, :, 0], "L") for a in img]  # other channel counts: show the first


@torch.no_grad()
def generate_images(G, seeds: Sequence[int], truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                    noise_mode: str = "const", class_idx: Optional[int] = None, batch_size: int = 4):
    """One image per seed. Conditional models need `class_idx` (as in gen_images.py)."""
    device = next(G.parameters()).device
    c = None
    if G.c_dim:
        if class_idx is None or not 0 <= int(class_idx) < G.c_dim:
            raise ValueError(f"this model is conditional: pick a class between 0 and {G.c_dim - 1}")
        c = torch.zeros([1, G.c_dim], device=device)
        c[:, int(class_idx)] = 1
    images = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        z = torch.from_numpy(np.concatenate([seed_to_z(s, G.z_dim) for s in chunk])).to(device=device, dtype=torch.float32)
        cc = c.repeat(len(chunk), 1) if c is not None else None
        img = G(z, cc, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)
        images.extend(to_pil(img))
    return images
