"""The companion room: every network the app runs besides the generator, each a plain model
usable alone, with one loader and one bounded cache.

    encoder.py     our image -> W+ encoder (ModelMixin), and load_encoder for every encoder file
    psp.py         pSp / e4e / ReStyle encoders read from their release files
    classifier.py  the attribute classifier of the cartoon faces, and its vocabulary
    clip.py        CLIP models (open_clip): the embedded one, or a Hub one
    perceptual.py  LPIPS and Image2StyleGAN's VGG16 distances (and the offline stand-in)
    align.py       face landmarks (MTCNN) and the FFHQ crop
    manifest.py    what comes with a model: its declared companions and where their files live

Declarations: a shipped model's `companions.json`, a registry entry's `companions`
(manifest.py). Loading: `load(manifest, spec, device)`, once per (files, device), the
COMPANION_CACHE_SIZE most recently used kept. Nothing here imports the studio, the page,
editing/, training/ or metrics/: they import from here.

    import stylegan, companions
    G = stylegan.load("avataaars-64")
    E = companions.companion(G, "encoder")          # what was declared beside G, on G's device
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from ops.memo import Memo

from .manifest import (
    KINDS,
    MANIFEST_NAME,
    WHAT_IT_ADDS,
    CompanionMissing,
    CompanionSpec,
    FileRef,
    Manifest,
    ManifestError,
    fetch,
)

COMPANION_CACHE_SIZE = int(os.environ.get("STUDIO_COMPANION_CACHE_SIZE", "8"))


def _release():
    import gc
    gc.collect()


_cache = Memo(limit=max(1, COMPANION_CACHE_SIZE), on_drop=_release)
NETWORK_KINDS = ("encoder", "classifier", "clip")


def _key(manifest: Manifest, spec: CompanionSpec, device) -> tuple:
    files = tuple(sorted((role, ref, manifest.local_path(ref) if not ref.remote else None)
                         for role, ref in spec.files.items()))
    return (spec.kind, spec.format, files, tuple(sorted((k, str(v)) for k, v in spec.options.items())), str(device))


def load(manifest: Manifest, spec: CompanionSpec, device=None):
    """The network of a declared companion (encoder, classifier, clip), on `device`, eval mode:
    loaded once per (files, device), its remote files downloaded first. Raises CompanionMissing
    where a file cannot be had, ValueError (or CheckpointError) where one does not read."""
    if spec.kind not in NETWORK_KINDS:
        raise ValueError(f"{spec.kind} is data, not a network: editing/ reads it (fetch() gives its files)")
    device = torch.device(device or "cpu")
    return _cache.get(_key(manifest, spec, device), lambda: _build(manifest, spec, device))


def _build(manifest: Manifest, spec: CompanionSpec, device):
    if spec.format == "open_clip":
        from .clip import load_clip
        return load_clip(str(spec.options.get("model", "ViT-B-32")), spec.options.get("pretrained"), device=device)
    path = fetch(manifest, spec.files["weights"])
    if spec.kind == "encoder":
        from .encoder import load_encoder
        return load_encoder(path).to(device)
    if spec.kind == "classifier":
        from .classifier import load as load_classifier
        return load_classifier(path).to(device).eval()
    from .clip import load_clip
    return load_clip(path, device=device)


def cached(key: tuple, build):
    """build() once per key in the room's cache: for the networks the room builds itself (the
    perceptual networks, the landmark detector) rather than from a declaration."""
    return _cache.get(("built",) + tuple(key), build)


def clear_cache() -> None:
    _cache.clear()


def cached_keys() -> list:
    return _cache.keys()


def model_folder(G) -> Optional[str]:
    """The local folder G was loaded from (diffusers' `_name_or_path`), if it is one."""
    config = getattr(G, "config", None)
    root = config.get("_name_or_path") if hasattr(config, "get") else None
    return str(root) if root and os.path.isdir(str(root)) else None


def manifest_of(G) -> Manifest:
    """What was declared beside the folder G was loaded from (none for files and Hub pickles)."""
    return Manifest.of_folder(model_folder(G))


def device_of(G) -> torch.device:
    """Where G's weights are: where everything of a call on G must be."""
    return next(G.parameters()).device


def companion(G, kind: str, name: Optional[str] = None):
    """The `kind` network declared beside G, on G's device, or None where none was (or its files
    cannot be had): the lookup for Python users and scripts. The studio passes its own."""
    manifest = manifest_of(G)
    spec = manifest.get(kind, name)
    if spec is None:
        return None
    try:
        return load(manifest, spec, device_of(G))
    except CompanionMissing:
        return None


__all__ = ["KINDS", "MANIFEST_NAME", "WHAT_IT_ADDS", "CompanionMissing", "CompanionSpec", "FileRef", "Manifest",
           "ManifestError", "fetch", "load", "cached", "clear_cache", "cached_keys", "model_folder", "manifest_of", "device_of",
           "companion"]
