"""Seeds -> images, exactly as NVIDIA's gen_images.py turns a seed into z, so a seed gives
the same image here as there."""
from typing import Optional, Sequence

import numpy as np
import PIL.Image
import torch

from ops.images import image_grid, to_pil

MAX_SEED = 2 ** 32 - 1  # what np.random.RandomState accepts


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """z of a seed as the official scripts draw it: RandomState(seed).randn(1, z_dim)."""
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return np.random.RandomState(seed).randn(1, z_dim)


def seeds_to_z(G, seeds: Sequence[int]) -> torch.Tensor:
    """z for each seed, drawn as the official scripts do, on G's device. [N, z_dim]"""
    device = next(G.parameters()).device
    return torch.from_numpy(np.concatenate([seed_to_z(s, G.z_dim) for s in seeds])).to(device, torch.float32)


def class_vector(G, class_idx: Optional[int], n: int = 1) -> Optional[torch.Tensor]:
    """One-hot labels for a conditional model (None for an unconditional one)."""
    if not G.c_dim:
        return None
    if class_idx is None or not 0 <= int(class_idx) < G.c_dim:
        raise ValueError(f"this model is conditional: pick a class between 0 and {G.c_dim - 1}")
    c = torch.zeros([n, G.c_dim], device=next(G.parameters()).device)
    c[:, int(class_idx)] = 1
    return c


def default_batch(G) -> int:
    """How many images to synthesise at once. On a GPU, 8. On a CPU a batch only helps small
    images: a config-f network gains nothing from batching at 128-256 px and loses at 512 px and
    up (1024 px: 1.0 s an image alone, 1.6 s in a batch of 8; benchmarks/bench_editing.py), so
    the batch shrinks to keep batch x pixels at or below 512^2."""
    if next(G.parameters()).device.type != "cpu":
        return 8
    return max(1, min(8, (512 * 512) // (G.img_resolution ** 2)))


@torch.no_grad()
def generate_images(G, seeds: Sequence[int], truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                    noise_mode: str = "const", class_idx: Optional[int] = None, batch_size: Optional[int] = None):
    """One image per seed. Conditional models need `class_idx` (as in gen_images.py)."""
    batch_size = batch_size or default_batch(G)
    images = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        img = G(seeds_to_z(G, chunk), class_vector(G, class_idx, len(chunk)), truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)
        images.extend(to_pil(img))
    return images


MAX_IMAGES = 64  # the most images one request may ask for


def parse_seeds(text: str, limit: int = MAX_IMAGES) -> list[int]:
    """"0-7", "1, 5, 9" or "3,10-12" -> a list of seeds, as gen_images.py's --seeds reads them;
    at most `limit` of them (a ValueError with a message for people otherwise)."""
    seeds = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"cannot read {part!r} as a seed or a range like 0-7") from None
        if b < a:
            raise ValueError(f"range {part!r} runs backwards")
        if not (0 <= a <= MAX_SEED and 0 <= b <= MAX_SEED):
            raise ValueError(f"seeds must be between 0 and {MAX_SEED}")
        if len(seeds) + (b - a + 1) > limit:
            raise ValueError(f"{part!r} asks for too many seeds: at most {limit} here")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise ValueError("give at least one seed, e.g. 0-7 or 1,5,9")
    return seeds


TUNED_KEY = "tuned_generator"  # the .npz member naming a PTI result's tuned generator (32 hex digits)


def save_latents(path: str, ws: torch.Tensor, z: Optional[torch.Tensor] = None, seeds: Optional[Sequence[int]] = None,
                 tuned: Optional[str] = None, **groups) -> str:
    """Latents as .npz with the official key: `w` [N, num_ws, w_dim] float32, as NVIDIA's
    projector writes projected_w.npz and gen_images.py --projected-w reads it, plus `z` and
    `seeds` where known, `tuned_generator` (the key of a PTI result's tuned generator, kept
    by the studio that made it) and each group of named tensors as `<group>.<name>` (a
    projection's noise.<layer>, a global edit's styles.<layer>). The one writer of every .npz result."""
    arrays = {"w": ws.detach().float().cpu().numpy()}
    if tuned:
        arrays[TUNED_KEY] = np.asarray(str(tuned))
    if z is not None:
        arrays["z"] = z.detach().float().cpu().numpy()
    if seeds is not None:
        arrays["seeds"] = np.asarray(list(seeds), dtype=np.int64)
    for group, tensors in groups.items():
        for name, value in (tensors or {}).items():
            arrays[f"{group}.{name}"] = value.detach().float().cpu().numpy()
    np.savez(path, **arrays)
    return path


MAX_LATENTS_BYTES = 64 << 20  # an uploaded .npz: far more than 64 W+ latents of a 1024 px model


def _npz_member_header(path: str, member: str):
    """(shape, dtype) of one array of an .npz, read from its .npy header without reading the
    array; the archive's declared sizes are checked first (nothing is inflated)."""
    import zipfile

    from stylegan.errors import CheckpointError
    from stylegan.safety import check_zip
    try:
        sizes = check_zip(path, budget=MAX_LATENTS_BYTES, what="latents file")
    except CheckpointError as e:
        if "not a readable zip" in str(e):
            raise ValueError("this is not a latents .npz file (not a zip archive)") from None
        raise ValueError(str(e)) from None
    if f"{member}.npy" not in sizes:
        names = ", ".join(n.removesuffix(".npy") for n in list(sizes)[:10])
        raise ValueError(f"this latents file has no '{member}' array (keys: {names or 'none'})")
    with zipfile.ZipFile(path) as z, z.open(f"{member}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
        else:
            raise ValueError(f"the '{member}' array of this latents file has an unknown .npy version")
    return tuple(shape), dtype


def latents_tuned_key(path: str) -> Optional[str]:
    """The tuned-generator key a PTI result's .npz carries (save_latents(tuned=...)), or None:
    absent, or anything but a short hex string (read from its header first, never unpickled)."""
    try:
        shape, dtype = _npz_member_header(path, TUNED_KEY)
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * 64:
            return None
        with np.load(path, allow_pickle=False) as f:
            key = str(f[TUNED_KEY])
    except Exception:
        return None
    return key if 0 < len(key) <= 64 and all(c in "0123456789abcdef" for c in key) else None


def load_latents(path: str, G=None, max_count: int = MAX_IMAGES) -> torch.Tensor:
    """The `w` of an .npz written by save_latents or NVIDIA's projector, checked against G.
    The array's shape and type are read from its header and checked before it is loaded;
    NaN or infinite values are refused."""
    try:
        shape, dtype = _npz_member_header(path, "w")
    except ValueError:  # ours, with a message
        raise
    except Exception as e:  # a corrupt member or header
        raise ValueError(f"this is not a latents .npz file ({type(e).__name__})") from None
    if dtype.kind != "f" or dtype.itemsize > 8:
        raise ValueError(f"the latents must be floating-point numbers, not {dtype}")
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or not 1 <= shape[0] <= max_count:
        raise ValueError(f"these latents are {list(shape)}; expected [N, num_ws, w_dim] with N from 1 to {max_count}")
    if G is not None and shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"these latents are {list(shape)}; this model wants [N, {G.num_ws}, {G.w_dim}]")
    try:
        with np.load(path, allow_pickle=False) as f:
            w = torch.from_numpy(np.asarray(f["w"], dtype=np.float32)).reshape(shape)
    except Exception as e:
        raise ValueError(f"this is not a readable latents .npz file ({type(e).__name__})") from None
    if not torch.isfinite(w).all():
        raise ValueError("these latents contain NaN or infinite values")
    return w


def mixing_grid_image(grid: torch.Tensor, row_images: torch.Tensor, col_images: torch.Tensor) -> PIL.Image.Image:
    """The official style_mixing.py layout: column sources along the top, row sources down the
    left, cell (r, c) = row r with styles from column c; the corner left blank (white)."""
    R, Cc = grid.shape[:2]
    blank = torch.ones_like(row_images[:1])
    top = torch.cat([blank, col_images])
    body = torch.cat([torch.cat([row_images[r:r + 1], grid[r]]) for r in range(R)])
    return image_grid(torch.cat([top, body]), R + 1, Cc + 1)


def make_transform_kwargs(G, translate=(0.0, 0.0), rotate: float = 0.0) -> dict:
    """The synthesis keyword arguments that translate and rotate (degrees) a StyleGAN3 image in
    gen_images.py's units, passed per call ({} when nothing moves)."""
    if tuple(translate) == (0.0, 0.0) and rotate == 0.0:
        return {}
    if not hasattr(G.synthesis, "layer_names"):
        raise ValueError("translate and rotate need a StyleGAN3 model")
    from stylegan import make_transform
    return {"transform": make_transform(translate, float(rotate) * np.pi / 180)}


@torch.no_grad()
def synthesize(G, ws: torch.Tensor, noise_mode: str = "const", translate=(0.0, 0.0), rotate: float = 0.0,
               batch_size: Optional[int] = None) -> torch.Tensor:
    """Images of W+ latents. StyleGAN3 models are translated and rotated (degrees) in the units of
    gen_images.py --translate/--rotate, through a transform passed with this call: the shared
    model is never changed, so concurrent requests do not see each other's transforms.
    batch_size: None = default_batch(G)."""
    batch_size = batch_size or default_batch(G)
    kwargs = make_transform_kwargs(G, translate, rotate)
    return torch.cat([G.synthesis(ws[i:i + batch_size], noise_mode=noise_mode, **kwargs)
                      for i in range(0, len(ws), batch_size)])
