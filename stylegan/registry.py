"""The registry of models the Space offers: checkpoints/registry.json, one entry per model (a
Hub repo and file, or a folder of checkpoints/ for the models we ship). Data, read here."""
import json
import os
from dataclasses import dataclass, field
from typing import Optional

REGISTRY_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "registry.json")


def registry_path() -> str:
    """checkpoints/registry.json, or the operator's own list (STUDIO_REGISTRY: a registry.json
    whose `path` entries are relative to its folder)."""
    return os.environ.get("STUDIO_REGISTRY") or REGISTRY_PATH


@dataclass(frozen=True)
class ModelEntry:
    name: str               # short name used in the UI and by stylegan.load(name)
    repo: str               # Hub repo id, or "" for a model shipped in this folder
    format: str             # nvidia-pkl | rosinality-pt | hub-native
    network: str            # stylegan2 | stylegan3
    resolution: int
    license: str
    description: str
    file: Optional[str] = None       # file in the repo (pickles, .pt)
    subfolder: Optional[str] = None  # subfolder of a Hub-native repo
    revision: Optional[str] = None   # git revision on the Hub, None = main
    path: Optional[str] = None       # folder inside checkpoints/ for a shipped model
    default: bool = False            # the model stylegan.load() and the app use when none is named
    faces: bool = False              # trained on FFHQ-aligned human faces: uploads are face-aligned by default
    # What comes with it (companions/manifest.py): encoder, directions, relevance, classifier, CLIP.
    companions: Optional[dict] = field(default=None, hash=False, compare=False)


def load_registry(path: Optional[str] = None) -> dict:
    path = path or registry_path()
    with open(path) as f:
        data = json.load(f)
    entries = {}
    for item in data["models"]:
        entry = ModelEntry(**item)
        if entry.path is not None:
            entry = ModelEntry(**{**item, "path": os.path.join(os.path.dirname(path), entry.path)})
        entries[entry.name] = entry
    return entries


def default_entry(registry: Optional[dict] = None) -> Optional[ModelEntry]:
    registry = load_registry() if registry is None else registry
    for entry in registry.values():
        if entry.default:
            return entry
    return None
