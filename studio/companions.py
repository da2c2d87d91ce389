"""A workspace's companions: what its model declares (companions/manifest.py), loaded when a task
first needs it, on the workspace's device, and what the page says about each.

Networks (encoder, classifier, CLIP) come through the companion room's one cache; files that
are data (directions, StyleCLIP relevances) are read by editing/ and kept per workspace. A
declared companion whose files cannot be had (offline, a missing Hub file) gives a StudioError
that says what it would have added; `status()` tells the page which are here, which download
on first use, and which cannot be had.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Optional

import torch

import companions
from companions import WHAT_IT_ADDS, CompanionMissing, CompanionSpec, Manifest

from .errors import StudioError, scrub

log = logging.getLogger("studio")


def default_clip() -> tuple[str, str]:
    """The operator's CLIP for models that declare none (STUDIO_CLIP_MODEL, STUDIO_CLIP_PRETRAINED;
    default ViT-B-32 trained on LAION-2B), downloaded on first use where the internet exists."""
    return os.environ.get("STUDIO_CLIP_MODEL", "ViT-B-32"), os.environ.get("STUDIO_CLIP_PRETRAINED", "laion2b_s34b_b79k")


@dataclass(frozen=True)
class Status:
    kind: str
    name: str
    where: str          # "shipped", "Hub public-data/e4e/e4e_ffhq_encode.pt", "github.com/..."
    state: str          # here | downloads on first use | cannot be had here
    adds: str           # what it gives the page

    def line(self) -> str:
        return f"{self.kind} **{self.name}** ({self.where}): {self.state} — {self.adds}"


class ModelCompanions:
    def __init__(self, manifest: Optional[Manifest] = None, device="cpu"):
        self.manifest = manifest or Manifest()
        self.device = torch.device(device)
        self._data: dict = {}
        self._lock = threading.Lock()

    def to(self, device) -> "ModelCompanions":
        self.device = torch.device(device)
        return self

    # --- what is declared ---------------------------------------------------------------------

    def declared(self, kind: str) -> list[CompanionSpec]:
        return self.manifest.all(kind)

    def spec(self, kind: str, name: Optional[str] = None) -> Optional[CompanionSpec]:
        return self.manifest.get(kind, name)

    def _where(self, spec: CompanionSpec) -> str:
        if spec.format == "open_clip":
            return f"open_clip {spec.options.get('model')} ({spec.options.get('pretrained') or 'its weights'})"
        refs = list(spec.files.values())
        if all(not r.remote for r in refs):
            return "shipped with the model"
        return ", ".join(("Hub " if r.repo else "") + r.describe() for r in refs if r.remote)

    def _state(self, spec: CompanionSpec) -> str:
        if not spec.remote and spec.format != "open_clip":
            return "here" if all(self.manifest.local_path(r) for r in spec.files.values()) else "missing from its folder"
        if all(_cached(r) for r in spec.files.values() if r.remote) and spec.format != "open_clip":
            return "here (downloaded)"
        from stylegan.hub import hub_reachable
        return "downloads on first use" if hub_reachable() else "cannot be had here (no internet, not downloaded)"

    def available(self, spec: CompanionSpec) -> bool:
        """Here, or downloadable now (not: offline and not downloaded, or missing from its folder)."""
        return self._state(spec).startswith(("here", "downloads"))

    def status(self) -> list[Status]:
        return [Status(s.kind, s.name, self._where(s), self._state(s), WHAT_IT_ADDS[s.kind]) for s in self.manifest.specs]

    def describe(self) -> str:
        lines = [s.line() for s in self.status()]
        return ("Companions: " + "; ".join(lines)) if lines else ""

    # --- loading ---------------------------------------------------------------------------------

    def _failure(self, spec: CompanionSpec, error: Exception) -> StudioError:
        adds = WHAT_IT_ADDS[spec.kind]
        if isinstance(error, CompanionMissing):
            return StudioError(f"the model's {spec.kind} {spec.name!r} ({self._where(spec)}) cannot be had here: "
                               f"{scrub(str(error))}. It would give {adds}.")
        log.warning("companion %s %s failed to load", spec.kind, spec.name, exc_info=error)
        return StudioError(f"the model's {spec.kind} {spec.name!r} ({self._where(spec)}) could not be read: "
                           f"{scrub(str(error))[:300]}")

    def network(self, kind: str, name: Optional[str] = None):
        """The declared network of `kind` on this device, None where none is declared; a
        StudioError where it is declared but cannot be had or read."""
        spec = self.spec(kind, name)
        if spec is None:
            return None
        try:
            return companions.load(self.manifest, spec, self.device)
        except StudioError:
            raise
        except Exception as e:  # CompanionMissing, a file that does not read (CheckpointError, ValueError...)
            raise self._failure(spec, e) from None

    def local_network(self, kind: str):
        """The declared network where it is on this disk already (shipped or downloaded), else None:
        for what the page offers without a download."""
        spec = self.spec(kind)
        if spec is None or self._state(spec) not in ("here", "here (downloaded)"):
            return None
        try:
            return self.network(kind)
        except StudioError:
            return None

    def clip(self):
        """The CLIP of text edits: the model's declared one, else the operator's (default_clip)."""
        if self.spec("clip") is not None:
            return self.network("clip")
        name, tag = default_clip()
        spec = CompanionSpec("clip", f"{name} ({tag})", "open_clip", {}, "", {"model": name, "pretrained": tag})
        try:
            return companions.load(self.manifest, spec, self.device)
        except Exception as e:  # no internet, an unknown name or tag, a broken download
            log.warning("loading CLIP %s (%s) failed", name, tag, exc_info=True)
            raise StudioError(f"the CLIP model for text edits ({name}, {tag}) could not be loaded ({type(e).__name__}); "
                              "it downloads from the Hub on first use, so this server may have no internet. The "
                              "embedded model ships its own CLIP.") from None

    def _read(self, spec: CompanionSpec, read):
        key = (spec.kind, spec.name)
        with self._lock:
            if key in self._data:
                return self._data[key]
        try:
            paths = {role: companions.fetch(self.manifest, ref) for role, ref in spec.files.items()}
            value = read(paths)
        except StudioError:
            raise
        except Exception as e:
            raise self._failure(spec, e) from None
        with self._lock:
            return self._data.setdefault(key, value)

    def direction_names(self) -> list[str]:
        return [s.name for s in self.declared("directions")]

    def direction(self, name: str):
        """A declared direction file, read: a tensor [1 or num_ws, w_dim], or a GANSpace PCA."""
        spec = self.spec("directions", name)
        if spec is None:
            raise StudioError(f"this model declares no direction {str(name)[:60]!r}; it has: "
                              f"{', '.join(self.direction_names()) or 'none'}")
        from editing.directions import load_direction_file
        return self._read(spec, lambda p: load_direction_file(p["weights"]))

    def relevance(self, name: str):
        """A declared relevance (global text-edit directions): ours (studio-relevance) or StyleCLIP's
        released files (styleclip), or None where none of that name is declared."""
        spec = self.spec("relevance", name)
        if spec is None:
            return None
        from editing import text_edit as te
        if spec.format == "styleclip":
            return self._read(spec, lambda p: te.load_styleclip_global(p["s_mean_std"], p["fs3"]))
        return self._read(spec, lambda p: te.Relevance.load(p["weights"]))

    def released_relevance(self):
        """The first declared StyleCLIP relevance (exact global directions, nothing to compute)."""
        for spec in self.declared("relevance"):
            if spec.format == "styleclip":
                return self.relevance(spec.name)
        return None


def _cached(ref) -> bool:
    if ref.repo:
        import huggingface_hub
        try:
            hit = huggingface_hub.try_to_load_from_cache(ref.repo, ref.file, revision=ref.revision, repo_type=ref.repo_type)
        except Exception:
            return False
        return isinstance(hit, str)
    if ref.url:
        from stylegan.hub import url_cache_path
        return os.path.isfile(url_cache_path(ref.url))
    return False
