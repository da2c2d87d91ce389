"""What comes with a model: its companions, declared in one place per model.

The way diffusers' `model_index.json` names a pipeline's components, a model names the networks
and files that work with it: for a shipped model `companions.json` beside its weights, for a
registry model the entry's `companions` (checkpoints/registry.json). One declaration per kind:

    {
      "encoder":    {"format": "e4e", "repo": "public-data/e4e", "file": "e4e_ffhq_encode.pt", "license": "..."},
      "classifier": {"format": "studio-classifier", "path": "classifier"},
      "clip":       {"format": "open_clip", "model": "ViT-B-32", "pretrained": "openai"},
      "relevance":  [{"name": "styleclip", "format": "styleclip", "clip": "ViT-B-32/openai",
                      "files": {"s_mean_std": {"url": "..."}, "fs3": {"url": "..."}}}],
      "directions": [{"name": "age", "format": "interfacegan", "url": ".../age.pt", "layers": [0, 8]}]
    }

A file is named by `path` (inside the model's folder; nothing outside it), by `repo` + `file`
(+ `revision`) on the Hub, or by an https `url`; `fetch` brings it to the disk with the Hub
code's stall limits. Formats: encoder studio-encoder | psp | e4e | restyle; classifier
studio-classifier; clip open_clip-folder | open_clip; relevance studio-relevance | styleclip;
directions interfacegan | e4e-direction | ganspace.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

MANIFEST_NAME = "companions.json"
KINDS = ("encoder", "classifier", "clip", "relevance", "directions")
FORMATS = {
    "encoder": ("studio-encoder", "psp", "e4e", "restyle"),
    "classifier": ("studio-classifier",),
    "clip": ("open_clip-folder", "open_clip"),
    "relevance": ("studio-relevance", "styleclip"),
    "directions": ("interfacegan", "e4e-direction", "ganspace"),
}
WHAT_IT_ADDS = {
    "encoder": "Project's encoder (one pass) and hybrid recipes",
    "classifier": "attribute directions, and text edits that keep what the prompt does not name",
    "clip": "text edits",
    "relevance": "global text edits with no precomputation",
    "directions": "named directions in Directions",
}


class ManifestError(ValueError):
    """A declaration that does not parse; the message names the entry."""


@dataclass(frozen=True)
class FileRef:
    """Where one file lives: in the model's folder, on the Hub, or at a URL."""
    path: Optional[str] = None          # relative to the model's folder (shipped models)
    repo: Optional[str] = None          # a Hub repo id
    file: Optional[str] = None          # the file in it
    revision: Optional[str] = None
    repo_type: str = "model"
    url: Optional[str] = None           # an https URL (files that are on GitHub only)

    @classmethod
    def parse(cls, data: dict, what: str) -> "FileRef":
        ref = cls(**{k: data[k] for k in ("path", "repo", "file", "revision", "repo_type", "url") if k in data})
        if sum(x is not None for x in (ref.path, ref.repo, ref.url)) != 1:
            raise ManifestError(f"{what}: name the file by one of path, repo + file, or url")
        if ref.repo is not None and not ref.file:
            raise ManifestError(f"{what}: a Hub file needs `file` beside `repo`")
        if ref.path is not None and (os.path.isabs(ref.path) or ".." in ref.path.replace("\\", "/").split("/")):
            raise ManifestError(f"{what}: a path is relative to the model's folder and stays inside it")
        if ref.url is not None and not ref.url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ManifestError(f"{what}: only https URLs")
        return ref

    @property
    def remote(self) -> bool:
        return self.path is None

    def describe(self) -> str:
        if self.repo:
            return f"{self.repo}/{self.file}"
        return self.url or self.path or ""


@dataclass(frozen=True)
class CompanionSpec:
    """One declared companion."""
    kind: str                           # encoder | classifier | clip | relevance | directions
    name: str                           # shown in the page (a direction's name, "e4e", ...)
    format: str
    files: dict                         # role -> FileRef ("weights", or "s_mean_std" and "fs3")
    license: str = ""
    options: dict = field(default_factory=dict)  # the format's own settings (layers, clip, iterations, ...)

    @property
    def remote(self) -> bool:
        return any(ref.remote for ref in self.files.values())


_SPEC_KEYS = {"name", "format", "license", "files", "path", "repo", "file", "revision", "repo_type", "url"}


def _parse_spec(kind: str, data: dict, index: int) -> CompanionSpec:
    what = f"companions.{kind}" + (f"[{index}]" if index >= 0 else "")
    if not isinstance(data, dict):
        raise ManifestError(f"{what}: an object is expected")
    fmt = data.get("format")
    if fmt not in FORMATS[kind]:
        raise ManifestError(f"{what}: format {str(fmt)[:40]!r} is not one of {', '.join(FORMATS[kind])}")
    if isinstance(data.get("files"), dict):
        files = {role: FileRef.parse(ref, f"{what}.files.{role}") for role, ref in data["files"].items()}
    elif fmt == "open_clip":
        files = {}  # open_clip names its own weights (name + pretrained tag)
    else:
        files = {"weights": FileRef.parse(data, what)}
    if fmt == "styleclip" and set(files) != {"s_mean_std", "fs3"}:
        raise ManifestError(f"{what}: StyleCLIP's global directions are two files, s_mean_std and fs3")
    name = str(data.get("name") or fmt)
    options = {k: v for k, v in data.items() if k not in _SPEC_KEYS}
    return CompanionSpec(kind, name[:80], fmt, files, str(data.get("license", "")), options)


@dataclass(frozen=True)
class Manifest:
    """A model's declared companions, and the folder `path` files are relative to."""
    specs: tuple = ()
    root: Optional[str] = None

    @classmethod
    def parse(cls, data: Optional[dict], root: Optional[str] = None) -> "Manifest":
        if not data:
            return cls((), root)
        if not isinstance(data, dict):
            raise ManifestError("companions: an object is expected")
        specs = []
        for kind, value in data.items():
            if str(kind).startswith("_"):
                continue
            if kind not in KINDS:
                raise ManifestError(f"companions: unknown kind {str(kind)[:40]!r} (kinds: {', '.join(KINDS)})")
            items = value if isinstance(value, list) else [value]
            specs += [_parse_spec(kind, item, i if isinstance(value, list) else -1) for i, item in enumerate(items)]
        return cls(tuple(specs), root)

    @classmethod
    def of_folder(cls, folder: Optional[str]) -> "Manifest":
        """The companions.json of a model folder (none: an empty manifest)."""
        if not folder or not os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
            return cls((), folder)
        with open(os.path.join(folder, MANIFEST_NAME)) as f:
            return cls.parse(json.load(f), folder)

    def all(self, kind: str) -> list:
        return [s for s in self.specs if s.kind == kind]

    def get(self, kind: str, name: Optional[str] = None) -> Optional[CompanionSpec]:
        for s in self.all(kind):
            if name is None or s.name == name:
                return s
        return None

    def local_path(self, ref: FileRef) -> Optional[str]:
        """A `path` file inside the model's folder (None where it is not there)."""
        if ref.path is None or not self.root:
            return None
        root = os.path.realpath(self.root)
        real = os.path.realpath(os.path.join(root, ref.path))
        if not (real == root or real.startswith(root + os.sep)) or not os.path.exists(real):
            return None
        return real


def fetch(manifest: Manifest, ref: FileRef) -> str:
    """The file on this disk: in the model's folder, or downloaded (the Hub's cache, or ours for
    URLs) with the Hub code's stall limits. Raises CompanionMissing with what it would add."""
    if ref.path is not None:
        path = manifest.local_path(ref)
        if path is None:
            raise CompanionMissing(f"{ref.path} is not in the model's folder")
        return path
    from stylegan.hub import HubError, download, download_url
    try:
        if ref.repo is not None:
            return download(ref.repo, ref.file, revision=ref.revision, repo_type=ref.repo_type)
        return download_url(ref.url)
    except HubError as e:
        raise CompanionMissing(str(e)) from None


class CompanionMissing(RuntimeError):
    """A declared companion whose files cannot be had here (no internet, a missing file)."""
