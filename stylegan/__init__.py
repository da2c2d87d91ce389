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
from .hub import CONFIG_NAME, WEIGHTS_NAME, HubError, download, parse_hub_id
from .loaders import load_file, load_folder
from .registry import ModelEntry, default_entry, load_registry
from .stylegan2 import StyleGAN2Generator
from .stylegan3 import StyleGAN3Generator, make_transform

__all__ = [
    "load", "load_file", "load_registered", "load_from_hub", "clear_cache", "CheckpointError", "UnsafePickleError", "HubError",
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


def _load_from_registry(entry):
    if entry.path is not None:  # shipped with the project
        return load_folder(entry.path, subfolder=entry.subfolder) if entry.format == "hub-native" else load_file(entry.path)
    if entry.format == "hub-native":
        return _load_hub_native(entry.repo, entry.subfolder, entry.revision)
    local = download(entry.repo, entry.file, revision=entry.revision)
    return load_file(local)


def _load_hub_native(repo, subfolder=None, revision=None):
    config_path = download(repo, CONFIG_NAME, revision=revision, subfolder=subfolder)
    download(repo, WEIGHTS_NAME, revision=revision, subfolder=subfolder)
    folder = os.path.dirname(config_path)  # the cached snapshot folder holding both files
    return load_folder(folder)


def load_registered(name: Optional[str] = None, registry: Optional[dict] = None):
    """A model of the registry by name (None = the default model), uncached, on the CPU."""
    registry = load_registry() if registry is None else registry
    if name is None:
        entry = default_entry(registry)
        if entry is None:
            raise CheckpointError("no default model is registered; name one of: " + ", ".join(registry))
        return _load_from_registry(entry)
    if name not in registry:
        raise CheckpointError(f"no registered model {name!r}; the registry has: {', '.join(registry)}")
    return _load_from_registry(registry[name])


def load_from_hub(hub_id: str):
    """'owner/repo[@revision]' (a Hub-native model) or 'owner/repo[@revision]/path/file.pkl',
    uncached, on the CPU. Never looks at the local disk (but the Hub cache)."""
    hub = parse_hub_id(hub_id)
    if hub is None:
        raise CheckpointError(f"{hub_id!r} is not a Hub id like 'owner/repo' or 'owner/repo/file.pkl'")
    if hub.file is None:
        return _load_hub_native(hub.repo, revision=hub.revision)
    return load_file(download(hub.repo, hub.file, revision=hub.revision))


def _load_uncached(source):
    registry = load_registry()
    if source is None:
        return load_registered(None, registry)
    source = os.fspath(source)
    if os.path.exists(source):
        return load_file(source)
    if source in registry:
        return load_registered(source, registry)
    if source.lower().endswith((".pkl", ".pt", ".pth", ".safetensors")) and source.count("/") < 2:
        raise CheckpointError(f"no such file: {source} (a file in a Hub repo is named owner/repo/path/file.pkl)")
    if parse_hub_id(source) is not None:
        return load_from_hub(source)
    raise CheckpointError(f"unknown model {source!r}: not a file or folder, not a registered name "
                          f"({', '.join(registry)}), and not a Hub id like 'owner/repo' or 'owner/repo/file.pkl'")


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
    return _cache.get(key, lambda: _load_uncached(source).to(device).eval().requires_grad_(False))


def clear_cache():
    _cache.clear()
