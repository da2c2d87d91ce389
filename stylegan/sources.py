"""Where a generator comes from, decided in one place: a registry name, a local file or folder,
a Hub id, or an upload; and loading one, whatever it is.

    source = resolve("stylegan2-ffhq-1024", registry)    # Source(kind="registry", ...)
    G = load_source(source)                              # uncached, CPU, eval mode

`resolve` takes the policy for local paths from its caller: `stylegan.load` reads any path on
this machine (a Python user's own files), the studio only those under the folders its operator
allows (studio/networks.py), and refuses the rest with one message whether or not they exist.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from .errors import CheckpointError
from .hub import CONFIG_NAME, WEIGHTS_NAME, download, parse_hub_id
from .loaders import load_file, load_folder
from .registry import ModelEntry


@dataclass(frozen=True)
class Source:
    """Where a generator comes from, resolved and checked."""
    kind: str                   # registry | hub | local | upload
    value: str                  # registry name, Hub id, or a real path on this machine
    label: str                  # what a visitor is shown (never a server path)
    entry: Optional[ModelEntry] = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.value)


def looks_local(text: str) -> bool:
    """Text that names a path on this machine rather than a model or a Hub id."""
    return text.startswith(("/", "~", ".", "\\")) or "\\" in text or (len(text) > 1 and text[1] == ":") or "//" in text


def any_local_path(text: str) -> Optional[str]:
    """stylegan.load's policy: any existing file or folder on this machine."""
    path = os.path.expanduser(text)
    return os.path.realpath(path) if os.path.exists(path) else None


def resolve(text: str, registry: dict, local: Callable[[str], Optional[str]] = any_local_path) -> Source:
    """A registry name, else a local path (as `local` allows it: a real path, or None), else a
    Hub id ('owner/repo[@revision]' or 'owner/repo[@revision]/path/file.pkl'). CheckpointError
    for anything else."""
    text = os.fspath(text).strip()
    if text in registry:
        return Source("registry", text, text, registry[text])
    path = local(text)
    if path is not None:
        return Source("local", path, os.path.basename(path.rstrip(os.sep)) or text)
    if text.lower().endswith((".pkl", ".pt", ".pth", ".safetensors")) and text.count("/") < 2:
        raise CheckpointError(f"no such file: {text} (a file in a Hub repo is named owner/repo/path/file.pkl)")
    if not looks_local(text) and parse_hub_id(text) is not None:
        return Source("hub", text, text)
    raise CheckpointError(f"unknown model {text[:80]!r}: not a file or folder, not a registered name "
                          f"({', '.join(registry)}), and not a Hub id like 'owner/repo' or 'owner/repo/file.pkl'")


def _hub_native(repo, subfolder=None, revision=None):
    config_path = download(repo, CONFIG_NAME, revision=revision, subfolder=subfolder)
    download(repo, WEIGHTS_NAME, revision=revision, subfolder=subfolder)
    return load_folder(os.path.dirname(config_path))  # the cached snapshot folder holding both files


def load_entry(entry: ModelEntry):
    """A registry entry's generator: shipped in checkpoints/, a Hub-native repo, or a file in a repo."""
    if entry.path is not None:
        return load_folder(entry.path, subfolder=entry.subfolder) if entry.format == "hub-native" else load_file(entry.path)
    if entry.format == "hub-native":
        return _hub_native(entry.repo, entry.subfolder, entry.revision)
    return load_file(download(entry.repo, entry.file, revision=entry.revision))


def load_hub(hub_id: str):
    """'owner/repo[@revision]' (a Hub-native model) or 'owner/repo[@revision]/path/file.pkl'.
    Never looks at the local disk (but the Hub cache)."""
    hub = parse_hub_id(hub_id)
    if hub is None:
        raise CheckpointError(f"{hub_id!r} is not a Hub id like 'owner/repo' or 'owner/repo/file.pkl'")
    if hub.file is None:
        return _hub_native(hub.repo, revision=hub.revision)
    return load_file(download(hub.repo, hub.file, revision=hub.revision))


def load_source(source: Source):
    """The generator of a resolved source, uncached, on the CPU, eval mode."""
    if source.kind == "registry":
        return load_entry(source.entry)
    if source.kind == "hub":
        return load_hub(source.value)
    return load_file(source.value)
