"""The networks shipped beside a generator: `<model folder>/classifier`, `/encoder`, `/clip`.

A generator read from a Hub-native folder remembers that folder (diffusers' `_name_or_path`), so
the plain functions of editing/ can find what was trained for it when the caller passes nothing:

    project(stylegan.load("avataaars-64"), photo)          # the hybrid recipe finds its encoder

The studio layer loads companions through its own bounded cache and passes them explicitly;
this is the lookup for Python users and scripts. Loaded once per (folder, device), on G's device.
"""
from __future__ import annotations

import functools
import os
from typing import Optional

import torch


def companion_folder(G, name: str, marker: str = "config.json") -> Optional[str]:
    """<the local folder G was loaded from>/<name>, if it holds `marker`; else None."""
    config = getattr(G, "config", None)
    root = config.get("_name_or_path") if hasattr(config, "get") else None
    if not root or not os.path.isdir(str(root)):
        return None
    folder = os.path.join(str(root), name)
    return folder if os.path.isfile(os.path.join(folder, marker)) else None


@functools.lru_cache(maxsize=8)
def _load(kind: str, folder: str, device: str):
    if kind == "classifier":
        from metrics.classifier import load
        return load(folder).to(device).eval()
    if kind == "encoder":
        from .encoder import load_encoder
        return load_encoder(folder).to(device)
    if kind == "clip":
        from .clip import load_clip
        return load_clip(folder, device=device)
    raise ValueError(kind)


def device_of(G) -> torch.device:
    """Where G's weights are: where everything of a call on G must be."""
    return next(G.parameters()).device


def companion(G, kind: str):
    """The `kind` ("classifier", "encoder", "clip") shipped beside G, on G's device, or None where none was."""
    marker = "open_clip_config.json" if kind == "clip" else "config.json"
    folder = companion_folder(G, kind, marker)
    return None if folder is None else _load(kind, os.path.realpath(folder), str(device_of(G)))
