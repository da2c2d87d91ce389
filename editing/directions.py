"""Directions in W that change one thing about an image, and moving along them.

- SeFa (Shen & Zhou 2021, "Closed-Form Factorization of Latent Semantics in GANs"): the
  style-modulation layers map w to styles by s = A w + b; the unit vectors n that change the
  styles most, argmax |A n|, are the top eigenvectors of A^T A. Closed form, no sampling.
- GANSpace (Harkonen et al. 2020): principal components of w = mapping(z) over random z.

A direction is applied to chosen layers of W+: ws[:, layers] += strength * direction.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import torch


def style_affines(G) -> list[tuple[int, torch.nn.Module]]:
    """(index into W+, affine layer) for every style the synthesis network computes."""
    return [(w_idx, G.synthesis.get_submodule(name).affine) for name, w_idx, _ in G.synthesis.w_layout()]


def affine_matrix(layer) -> torch.Tensor:
    """A of s = A w + b as the layer applies it (equalized-lr gain included). [styles, w_dim]"""
    return layer.weight.detach().float() * layer.weight_gain


def sefa(G, layers: Optional[Sequence[int]] = None, num: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa directions for the given W+ layers (None = all): `num` unit vectors in W, strongest
    first, and their eigenvalues. As in the paper's code, each row of A is normalised first, so
    wide layers do not outvote narrow ones. ([num, w_dim], [num])"""
    chosen = set(range(G.num_ws)) if layers is None else {int(i) for i in layers}
    rows = [affine_matrix(a) for i, a in style_affines(G) if i in chosen]
    if not rows:
        raise ValueError(f"no style layers among {sorted(chosen)} (this model has ws 0..{G.num_ws - 1})")
    A = torch.cat(rows).double()
    A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
    eigvals, eigvecs = torch.linalg.eigh(A.T @ A)  # ascending
    order = torch.argsort(eigvals, descending=True)[:num]
    return eigvecs[:, order].T.float().contiguous(), eigvals[order].float()


@torch.no_grad()
def ganspace(G, num: int = 10, samples: int = 10_000, seed: int = 0, class_idx: Optional[int] = None):
    """GANSpace: principal directions of W from `samples` random z (seeded). Returns unit
    directions [num, w_dim], the standard deviation of w along each [num], and the mean w."""
    w = sample_w(G, samples, seed, class_idx)
    mean = w.mean(dim=0)
    _, S, Vh = torch.linalg.svd(w - mean, full_matrices=False)
    std = S / np.sqrt(len(w) - 1)
    return Vh[:num].float().contiguous(), std[:num].float(), mean.float()


@torch.no_grad()
def sample_w(G, samples: int = 10_000, seed: int = 0, class_idx: Optional[int] = None) -> torch.Tensor:
    """w = mapping(z) for `samples` seeded random z, untruncated. A conditional model samples
    class `class_idx`, or with None every class in turn (W of the whole model). [samples, w_dim] float64"""
    from .generate import class_vector
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    ws = []
    for i in range(0, samples, 2000):
        n = min(2000, samples - i)
        z = torch.randn([n, G.z_dim], generator=gen).to(device)
        if G.c_dim and class_idx is None:
            c = torch.eye(G.c_dim, device=device)[torch.arange(i, i + n, device=device) % G.c_dim]
        else:
            c = class_vector(G, class_idx, n)
        ws.append(G.mapping(z, c)[:, 0].double())
    return torch.cat(ws)


def direction_std(G, directions: torch.Tensor, samples: int = 10_000, seed: int = 0) -> torch.Tensor:
    """How far w spreads along each direction [num, w_dim]: the standard deviation of w . d over
    random w. Strengths in these units mean the same for every method and model. [num]"""
    w = sample_w(G, samples, seed)
    d = directions.to(w.device, torch.float64)
    return (w @ (d / d.norm(dim=1, keepdim=True)).T).std(dim=0).float()


def apply_direction(ws: torch.Tensor, direction: torch.Tensor, strength: float,
                    layers: Optional[Sequence[int]] = None) -> torch.Tensor:
    """ws [N, num_ws, w_dim] moved by strength * direction [w_dim] on `layers` (None = all)."""
    out = ws.clone()
    d = direction.to(ws.device, ws.dtype).reshape(1, 1, -1) * float(strength)
    if layers is None:
        return out + d
    idx = torch.as_tensor(list(layers), dtype=torch.long, device=ws.device)
    out[:, idx] += d
    return out


@torch.no_grad()
def attribute_direction(G, classifier, attribute: str, value: str, samples: int = 2000, seed: int = 0,
                        truncation_psi: float = 1.0, batch_size: int = 250, steps: int = 300, l2: float = 0.1) -> dict:
    """InterFaceGAN (Shen et al. 2020): the normal of a linear boundary in W between faces the
    classifier reads as `attribute == value` and the rest. Samples w from seeded z, labels the
    generated images with the classifier, fits a logistic regression on centred w, and
    returns {"direction": unit [w_dim] pointing towards `value`, "std": the spread of the samples'
    w along it, "accuracy": of the boundary on its samples, "positives": how many samples showed
    the value}.

    The penalty l2 matters: W is far from isotropic (here its spread differs 35x between
    principal directions), and a barely regularised fit separates the samples along directions
    in which w hardly varies and the generator hardly changes the image; moving along such a
    normal by a few standard deviations changes nothing. A ridge penalty on the raw coordinates
    keeps the normal in directions the generator uses (embedded model, +3 standard deviations:
    BLACK skin 8% -> 88% of faces with l2 = 0.1, 8% -> 6% with standardised w and l2 = 0.001)."""
    classes = classifier.attributes[attribute]
    if value not in classes:
        raise ValueError(f"{attribute} has no value {value!r}: one of {', '.join(classes)}")
    k = classes.index(value)
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    ws, labels = [], []
    for i in range(0, samples, batch_size):
        n = min(batch_size, samples - i)
        z = torch.randn([n, G.z_dim], generator=gen).to(device)
        w = G.mapping(z, None, truncation_psi=truncation_psi)
        img = G.synthesis(w, noise_mode="const")
        logits = classifier(img.float().clamp(-1, 1))[attribute]           # the classifier is on G's device
        ws.append(w[:, 0].double().cpu())
        labels.append((logits.argmax(dim=1) == k).double().cpu())
    w, y = torch.cat(ws), torch.cat(labels)
    positives = int(y.sum())
    if positives < 5 or positives > len(y) - 5:
        raise ValueError(f"only {positives} of {len(y)} samples read as {attribute}={value}: too few to fit a boundary")
    x = w - w.mean(0)
    with torch.enable_grad():
        coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
        bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([coef, bias], max_iter=steps, line_search_fn="strong_wolfe")
        pos_weight = torch.tensor((len(y) - positives) / positives, dtype=torch.float64)  # balance the classes

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ coef + bias, y, pos_weight=pos_weight)
            loss = loss + l2 * coef.square().sum()
            loss.backward()
            return loss
        opt.step(closure)
    coef = coef.detach()
    accuracy = float((((x @ coef + bias.detach()) > 0).double() == y).double().mean())
    direction = coef  # the boundary's normal in W
    direction = direction / direction.norm()
    return {"direction": direction.float().to(device), "std": float((w @ direction).std()), "accuracy": accuracy,
            "positives": positives}


# --- released direction files -------------------------------------------------------------------
# InterFaceGAN's boundaries (.npy), the e4e / ReStyle / HyperStyle copies of them (.pt tensors),
# GANSpace's PCA files (e4e's ffhq_pca.pt, harskish/ganspace's .npz). Read as data: .npy and .npz
# with allow_pickle=False after their declared sizes are checked, .pt files through the same
# weights-only reader as checkpoints (stylegan.loaders.read_torch_checkpoint), on the CPU.

MAX_DIRECTION_BYTES = 256 << 20


class DirectionFileError(ValueError):
    """Not a direction file of a format we read; the message says why (no server path)."""


@dataclasses.dataclass
class PCA:
    """GANSpace principal components of w, as the file stores them: mean [1, w_dim],
    components [n, 1, w_dim] (unit rows), std [n] (the spread of w along each)."""
    mean: torch.Tensor
    components: torch.Tensor
    std: torch.Tensor

    def direction(self, k: int) -> torch.Tensor:
        return self.components[k].reshape(-1)


def _npy_array(f, name: str, size: int) -> np.ndarray:
    """One .npy array from an open file, its declared size checked against what the file holds."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, EOFError, SyntaxError, TypeError) as e:
        raise DirectionFileError(f"{name} is not a readable .npy array ({type(e).__name__})") from None
    if dtype.hasobject:
        raise DirectionFileError(f"{name} holds Python objects, which are never unpickled here")
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if declared > min(size, MAX_DIRECTION_BYTES):
        raise DirectionFileError(f"{name} declares {declared:,} bytes of data but holds {size:,}")
    f.seek(0)
    try:
        return np.load(f, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise DirectionFileError(f"{name} is not a readable .npy array ({type(e).__name__})") from None


def _read_npz(path: str, name: str) -> dict:
    import zipfile

    from stylegan.errors import CheckpointError
    from stylegan.safety import check_zip
    try:
        sizes = check_zip(path, budget=MAX_DIRECTION_BYTES, what=name)
    except CheckpointError as e:
        raise DirectionFileError(str(e)) from None
    out = {}
    with zipfile.ZipFile(path) as z:
        for member, size in sizes.items():
            if member.endswith(".npy"):
                with z.open(member) as f:
                    import io
                    out[member[:-4]] = _npy_array(io.BytesIO(f.read()), name, size)
    return out


def _as_tensor(value, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
    if not t.is_floating_point() or not torch.isfinite(t).all():
        raise DirectionFileError(f"{name} is not an array of finite numbers")
    return t.detach().float().cpu()


def _direction_shape(t: torch.Tensor, name: str) -> torch.Tensor:
    """[dim], [1, dim] -> [1, dim]; [1, L, dim], [L, dim] -> [L, dim]."""
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise DirectionFileError(f"{name} holds an array of shape {list(t.shape)}, not a direction "
                                 "([1, w_dim] or [num_ws, w_dim])")
    return t.contiguous()


def load_direction_file(path) -> "torch.Tensor | PCA":
    """A released direction file: InterFaceGAN `.npy` boundaries and e4e-style `.pt` tensors give
    a tensor [1, w_dim] (or [num_ws, w_dim] for per-layer ones such as e4e's pose.pt); GANSpace
    files (`ffhq_pca.pt` with mean/comp/std, harskish/ganspace `.npz` with lat_*) a PCA."""
    import os
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        raise DirectionFileError(f"{name} could not be read") from None
    if head.startswith(b"\x93NUMPY"):
        with open(path, "rb") as f:
            return _direction_shape(_as_tensor(_npy_array(f, name, size), name), name)
    if head[:2] == b"PK" and not path.endswith((".pt", ".pth")):
        arrays = _read_npz(path, name)
        if {"lat_mean", "lat_comp", "lat_stdev"} <= set(arrays):
            return _pca(arrays["lat_mean"], arrays["lat_comp"], arrays["lat_stdev"], name)
        raise DirectionFileError(f"{name} is an .npz without GANSpace's lat_mean, lat_comp and lat_stdev")
    from stylegan.errors import CheckpointError
    from stylegan.loaders import read_torch_checkpoint
    try:
        value = read_torch_checkpoint(path, safe_globals=())
    except CheckpointError as e:
        raise DirectionFileError(str(e).replace(path, name)) from None
    if isinstance(value, dict) and {"mean", "comp", "std"} <= set(value):
        return _pca(value["mean"], value["comp"], value["std"], name)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _direction_shape(_as_tensor(value, name), name)
    raise DirectionFileError(f"{name} holds neither a direction tensor nor GANSpace's mean/comp/std")


def _pca(mean, comp, std, name: str) -> PCA:
    mean, comp, std = (_as_tensor(v, name) for v in (mean, comp, std))
    w_dim = mean.shape[-1]
    if comp.ndim == 2:
        comp = comp[:, None]
    if mean.numel() != w_dim or comp.ndim != 3 or comp.shape[-1] != w_dim or std.shape != comp.shape[:1]:
        raise DirectionFileError(f"{name}: GANSpace's mean, components and std do not fit together")
    return PCA(mean.reshape(1, w_dim), comp, std)


def interfacegan_interpolate(code: torch.Tensor, boundary: torch.Tensor, start: float = -3.0, end: float = 3.0,
                             steps: int = 10) -> torch.Tensor:
    """InterFaceGAN's edit: for a w [1, w_dim], `steps` codes at signed distances start..end from
    the boundary (its unit normal [1, w_dim]); for a W+ [1, L, w_dim], offsets start..end along it."""
    distances = torch.linspace(float(start), float(end), int(steps), dtype=torch.float64)
    n = boundary.reshape(1, -1).to(torch.float64)
    c = code.to(torch.float64)
    if c.ndim == 2:
        return (c + (distances[:, None] - c @ n.T) * n).to(code.dtype)
    return (c + distances[:, None, None] * n[None]).to(code.dtype)


def apply_offsets(latents: torch.Tensor, direction: torch.Tensor, factors) -> torch.Tensor:
    """latents [N, L, w_dim] + f * direction ([1, w_dim] or [L, w_dim]) for each factor f, stacked
    factor by factor: e4e's apply_interfacegan."""
    d = direction.to(latents.device, latents.dtype)
    return torch.cat([latents + float(f) * d for f in factors])


def ganspace_edit(latents: torch.Tensor, pca: PCA, edits) -> torch.Tensor:
    """e4e's GANSpace edit: for each latent [L, w_dim] and each (component, first, end, strength),
    the latent's coordinate along that component (measured on w_0, in std units) is set to
    `strength` on ws first..end-1. [len(latents) * len(edits), L, w_dim]"""
    out = []
    mean, comp, std = (t.to(latents.device, latents.dtype) for t in (pca.mean, pca.components, pca.std))
    for latent in latents:
        for k, first, end, strength in edits:
            c = comp[k].reshape(-1)
            coord = ((latent[0] - mean.reshape(-1)) * c).sum() / std[k]
            delta = (float(strength) - coord) * c * std[k]
            moved = latent.clone()
            moved[first:end] += delta
            out.append(moved)
    return torch.stack(out)
