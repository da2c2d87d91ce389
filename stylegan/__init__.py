"""StyleGAN2 and StyleGAN3 generators that produce the official pixels, and one safe way
to load them: `stylegan.load(source)`.

    import stylegan
    G = stylegan.load("stylegan3-t-ffhq-1024")          # a name from checkpoints/registry.json
    G = stylegan.load("network-snapshot-000100.pkl")     # a local NVIDIA pickle, rosinality .pt or folder
    G = stylegan.load("owner/repo")                      # a Hub-native model on the Hub
    G = stylegan.load("owner/repo/path/to/file.pkl")     # a checkpoint file on the Hub
    img = G(z, c, truncation_psi=0.7, noise_mode="const")
"""
import os
from typing import Optional, Union

import torch

from ops.memo import Memo

from .errors import CheckpointError, UnsafePickleError
from .hub import HubError
from .loaders import load_file
from .registry import ModelEntry, default_entry, load_registry
from .sources import Source, load_entry, load_hub, load_source, resolve
from .stylegan2 import StyleGAN2Generator
from .stylegan3 import StyleGAN3Generator, make_transform

__all__ = [
    "load", "load_file", "load_registered", "load_from_hub", "resolve", "load_source", "load_entry", "Source", "clear_cache",
    "CheckpointError", "UnsafePickleError", "HubError",
    "StyleGAN2Generator", "StyleGAN3Generator", "make_transform", "ModelEntry", "load_registry", "default_entry",
]

# Generators loaded in this process, most recently used last. Bounded, so a public Space that
# loads one uploaded checkpoint after another keeps at most CACHE_SIZE of them in memory.
CACHE_SIZE = int(os.environ.get("STYLEGAN_CACHE_SIZE", "4"))
_cache = Memo(limit=max(1, CACHE_SIZE))


def _resolve_device(device):
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def load_registered(name: Optional[str] = None, registry: Optional[dict] = None):
    """A model of the registry by name (None = the default model), uncached, on the CPU."""
    registry = load_registry() if registry is None else registry
    if name is None:
        entry = default_entry(registry)
        if entry is None:
            raise CheckpointError("no default model is registered; name one of: " + ", ".join(registry))
        return load_entry(entry)
    if name not in registry:
        raise CheckpointError(f"no registered model {name!r}; the registry has: {', '.join(registry)}")
    return load_entry(registry[name])


def load_from_hub(hub_id: str):
    """'owner/repo[@revision]' (a Hub-native model) or 'owner/repo[@revision]/path/file.pkl',
    uncached, on the CPU. Never looks at the local disk (but the Hub cache)."""
    return load_hub(hub_id)


def _load_uncached(source):
    registry = load_registry()
    if source is None:
        return load_registered(None, registry)
    return load_source(resolve(os.fspath(source), registry))


def load(source: Optional[Union[str, os.PathLike]] = None, device=None):
    """Load a generator, eval mode, no gradients; cached per (source, device), the CACHE_SIZE
    most recently used.

    source: None (the default registered model), a registry name, a local file or folder
    (NVIDIA .pkl, rosinality .pt, Hub-native folder), or a Hub id. device: None = CUDA if
    available, else CPU. Raises CheckpointError (UnsafePickleError, HubError) with a
    message fit to show to a person.
    """
    device = _resolve_device(device)
    key = (None if source is None else os.fspath(source), str(device))
    _cache.limit = max(1, CACHE_SIZE)  # read at each call: an operator (or a test) may change it
    return _cache.get(key, lambda: _load_uncached(source).to(device).eval().requires_grad_(False))


def clear_cache():
    _cache.clear()
