"""An attribute classifier for the cartoon faces: a small CNN with one head per attribute.

It serves three purposes: its held-out accuracy says how well the attributes can be read off
a 64x64 image; its penultimate features (after global pooling) give an in-domain Frechet
distance, where Inception weights cannot be had; and later, its predictions on generated
images give attribute directions in W.

Each head has one class per attribute value plus a last class "none" for faces where the
attribute does not show (hair colour under a hat, beard colour without a beard).

It is trained by training/train_classifier.py; here is the network the app runs, and its
vocabulary (`words.json`, written beside its weights): which words name each attribute, so a
text edit can keep the attributes its prompt does not name.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ops.images import from_uint8


class AttributeClassifier(ModelMixin, ConfigMixin):
    """image [N, 3, 64, 64] in [-1, 1] -> {attribute: logits [N, classes + 1]}; features [N, width*8]."""

    config_name = "config.json"

    @register_to_config
    def __init__(self,
        attributes: dict,           # {attribute: [class names]} ("none" is added as the last class).
        width: int = 16,            # Channels of the first stage; each of the 4 stages doubles them.
        resolution: int = 64,       # Input resolution.
    ):
        super().__init__()
        self.attributes = {a: list(c) for a, c in attributes.items()}
        layers, c_in = [], 3
        for i in range(4):  # 64 -> 32 -> 16 -> 8 -> 4
            c = width * 2 ** i
            layers += [torch.nn.Conv2d(c_in, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(inplace=True),
                       torch.nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(inplace=True)]
            c_in = c
        self.trunk = torch.nn.Sequential(*layers)
        self.feature_dim = c_in
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(c_in, len(c) + 1) for a, c in self.attributes.items()})

    def features(self, img):
        """Penultimate features: the trunk's output, averaged over positions. [N, feature_dim]"""
        return self.trunk(img).mean(dim=[2, 3])

    def forward(self, img):
        f = self.features(img)
        return {a: head(f) for a, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, images, batch_size=500):
        """uint8 (N, H, W, 3) or float [N, 3, H, W] in [-1, 1] -> (features [N, D],
        {attribute: predicted class [N]}, with len(classes) meaning "none")."""
        self.eval()
        feats, preds = [], {a: [] for a in self.attributes}
        for i in range(0, len(images), batch_size):
            x = _as_input(images[i:i + batch_size])
            f = self.features(x)
            feats.append(f)
            for a, head in self.heads.items():
                preds[a].append(head(f).argmax(dim=1))
        return torch.cat(feats).numpy().astype(np.float64), {a: torch.cat(p).numpy() for a, p in preds.items()}


def _as_input(images):
    return from_uint8(images) if isinstance(images, np.ndarray) else images.float()


def with_none(labels: dict[str, np.ndarray], attributes: dict) -> dict[str, np.ndarray]:
    """Labels with -1 ("does not show") moved to the extra last class."""
    return {a: np.where(labels[a] < 0, len(attributes[a]), labels[a]) for a in attributes}


def load(path) -> AttributeClassifier:
    model = AttributeClassifier.from_pretrained(str(path), low_cpu_mem_usage=False).eval().requires_grad_(False)
    words = os.path.join(str(path), WORDS_NAME)
    if os.path.isfile(words):
        with open(words) as f:
            model.vocabulary = json.load(f)
    return model


WORDS_NAME = "words.json"


def named_attributes(prompt: str, vocabulary: dict) -> set[str]:
    """The attributes a prompt speaks of, by a classifier's vocabulary ({"words": {attribute:
    [words]}, "stop_words": [...], "colour_things": {colour attribute: [things]}}): those whose
    words it uses; a colour attribute only when the prompt also names its thing ("pink hair"
    names the hair colour, not the hat's)."""
    stop = set(vocabulary.get("stop_words", ()))
    things = {a: set(v) for a, v in vocabulary.get("colour_things", {}).items()}
    words = set(re.findall(r"[a-z][a-z\-]*", str(prompt).lower())) - stop
    named = set()
    for a, vocab in vocabulary.get("words", {}).items():
        vocab = set(vocab) - stop
        if a in things:
            if words & things[a] and (words & vocab or a == "hair_color" and words & things[a] - {"hair"}):
                named.add(a)
        elif words & vocab:
            named.add(a)
    return named
