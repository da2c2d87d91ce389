"""One place that loads every network the product uses, with one bounded cache.

Generators come from the registry, the Hub, an uploaded file, or a local path under a folder
the operator allows (STUDIO_LOCAL_DIRS); what a model declares beside it (its companions) is
read here too, and loaded by the companion room (companions/) when a task needs it. Every
failure is a StudioError whose message is safe to show a stranger: local
paths outside the allowed folders are refused with one message whether or not they exist, and
no message carries a server path.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Optional

import torch

import ops
import stylegan
from ops.memo import Memo
from stylegan.registry import default_entry, load_registry
from stylegan.sources import Source, load_source, looks_local, resolve

from .errors import StudioError, scrub

log = logging.getLogger("studio")


def allowed_local_dirs() -> list[str]:
    """Folders whose checkpoints a visitor may name by path (STUDIO_LOCAL_DIRS, separated by
    os.pathsep); none by default: on a public Space the model box takes registry names and Hub ids."""
    dirs = [d for d in os.environ.get("STUDIO_LOCAL_DIRS", "").split(os.pathsep) if d.strip()]
    return [os.path.realpath(d) for d in dirs]


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in folders)


LOCAL_REFUSED = ("local paths are not accepted here: pick a model from the list, give a Hub id "
                 "(owner/repo or owner/repo/path/file.pkl), or upload a checkpoint")


class Networks:
    """Loads and caches generators (one Workspace each) by Source.

    The cache (ops.memo.Memo, one per kind) holds at most `size` entries of a kind (least
    recently used first out); each key has its own lock, so a slow Hub download does not hold
    up loads of other models; a failed load hands its memory back to the system."""

    def __init__(self, size: Optional[int] = None, device=None, registry: Optional[dict] = None,
                 upload_dirs: tuple = ()):
        self.size = size or int(os.environ.get("STUDIO_CACHE_SIZE", "4"))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.registry = load_registry() if registry is None else registry
        self.upload_dirs = [os.path.realpath(d) for d in upload_dirs]
        self._memos: dict = {}  # kind -> Memo
        self._lock = threading.Lock()

    # --- sources --------------------------------------------------------------------

    def default_name(self) -> str:
        """The model the page opens on: STUDIO_DEFAULT_MODEL (a registry name) if the operator
        set one, else the registry's default (the embedded model)."""
        name = os.environ.get("STUDIO_DEFAULT_MODEL", "").strip()
        if name:
            if name not in self.registry:
                raise StudioError(f"STUDIO_DEFAULT_MODEL={name!r} is not in the registry ({', '.join(self.registry)})")
            return name
        entry = default_entry(self.registry) or next(iter(self.registry.values()))
        return entry.name

    def resolve(self, choice: Optional[str], text: Optional[str] = None, upload: Optional[str] = None) -> Source:
        """The upload, else the typed name / Hub id / allowed local path, else the picked registry model.
        `upload` is a path the caller vouches for (the page passes Gradio's upload, which must lie
        under one of `upload_dirs` when they are given)."""
        if upload:
            real = os.path.realpath(os.fspath(upload))
            if self.upload_dirs and not _inside(real, self.upload_dirs):
                raise StudioError("that upload is not an uploaded file; upload the checkpoint again")
            return Source("upload", real, os.path.basename(real))
        text = (text or "").strip()
        if len(text) > 500 or "\x00" in text:
            raise StudioError("that model name is too long or contains odd characters")
        if text:
            try:
                return resolve(text, self.registry, local=self._allowed_local)
            except stylegan.CheckpointError:
                raise StudioError(f"{text[:80]!r} is not a model of the list or a Hub id like owner/repo or "
                                  "owner/repo/path/file.pkl") from None
        name = choice or self.default_name()
        if name not in self.registry:
            raise StudioError(f"no model named {str(name)[:80]!r}; pick one of: {', '.join(self.registry)}")
        return Source("registry", name, name, self.registry[name])

    @staticmethod
    def _allowed_local(text: str) -> Optional[str]:
        """The studio's policy for local paths: a path under a folder the operator allows (an
        absolute one, or relative to such a folder) is read; any other text that looks like a
        path is refused with one message, whether or not it exists."""
        allowed = allowed_local_dirs()
        if looks_local(text) or os.path.isabs(text):
            real = os.path.realpath(os.path.expanduser(text)) if allowed else ""
            if allowed and _inside(real, allowed) and os.path.exists(real):
                return real
            raise StudioError(LOCAL_REFUSED)
        for folder in allowed:  # a relative path under an allowed folder
            real = os.path.realpath(os.path.join(folder, text))
            if _inside(real, [folder]) and os.path.exists(real):
                return real
        return None

    # --- the cache --------------------------------------------------------------------

    def cached(self, key: tuple, load: Callable[[], object]):
        """load() once per key, kept among the `size` most recently used of its kind (key[0]:
        workspace, classifier...); loads of one key wait for each other, loads of different
        keys run at once; a failed load or an eviction hands memory back."""
        with self._lock:
            memo = self._memos.get(key[0])
            if memo is None:
                memo = self._memos[key[0]] = Memo(limit=self.size, on_drop=ops.config.release_memory)
        return memo.get(key, load)

    def cached_keys(self) -> list:
        with self._lock:
            memos = list(self._memos.values())
        return [k for memo in memos for k in memo.keys()]

    def clear(self) -> None:
        with self._lock:
            memos = list(self._memos.values())
        for memo in memos:
            memo.clear()

    # --- loaders ----------------------------------------------------------------------

    def load_generator(self, source: Source):
        """The generator of a resolved source, uncached (a Workspace's own, held by its cache
        entry): eval mode, no gradients, on this device."""
        message = None
        try:
            G = load_source(source)
        except stylegan.CheckpointError as e:
            message = self._message(e, source)
        except (OSError, RuntimeError, EOFError) as e:
            log.warning("loading %s failed", source.label, exc_info=True)
            message = f"{source.label} could not be read ({type(e).__name__})."
        if message is not None:
            # Raised outside the except block: the loader's exception, whose traceback holds the
            # half-built network, is gone by now, so its memory can be handed back.
            raise StudioError(message)
        return G.to(self.device).eval().requires_grad_(False)

    @staticmethod
    def _message(error, source: Source) -> str:
        text = str(error)
        if source.kind in ("local", "upload"):
            text = text.replace(source.value, source.label)
        return scrub(text)

    def manifest_for(self, source: Source):
        """What the model declares beside it (companions.Manifest): a shipped model's companions.json
        and its registry entry's `companions` (the entry's win), an allowed local folder's
        companions.json; nothing for uploads and Hub files."""
        from companions import Manifest, ManifestError
        try:
            if source.entry is not None:
                folder = Manifest.of_folder(source.entry.path)
                declared = Manifest.parse(source.entry.companions, source.entry.path)
                kinds = {s.kind for s in declared.specs}
                return Manifest(tuple(s for s in folder.specs if s.kind not in kinds) + declared.specs, source.entry.path)
            if source.kind == "local" and os.path.isdir(source.value):
                return Manifest.of_folder(source.value)
        except (ManifestError, OSError, ValueError) as e:
            log.warning("the companions of %s do not parse: %s", source.label, e)
            raise StudioError(f"the companions declared for {source.label} do not parse: {scrub(str(e))[:200]}") from None
        return Manifest()
