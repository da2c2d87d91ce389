"""CLIP for text edits, through open_clip: a Hub model (downloaded where the internet exists) or
the small embedded CLIP trained here for the embedded model (checkpoints/avataaars64/clip, in
open_clip's own Hub layout: open_clip_config.json + open_clip_model.safetensors).

    clip = load_clip("checkpoints/avataaars64/clip")           # or "hf-hub:org/repo", or ("ViT-B-32", "laion2b_s34b_b79k")
    e_img = clip.encode_images(G.synthesis(ws))                # [N, D], unit length, differentiable
    t = clip.text_direction("with sunglasses", neutral="")     # unit direction in CLIP space

Images go in as the generator makes them ([-1, 1], any size) and are resized to the model's
input as StyleCLIP does: averaged down when larger (StyleCLIP upsamples 7x and average-pools a
1024 px image to 224, the same as an area resize) and bilinearly up when smaller, then
normalised with the model's mean and std. Texts are averaged over prompt templates (StyleCLIP
averages 80 ImageNet templates); a prompt written as a modifier ("with sunglasses", "smiling")
is put after each template's subject, a full description ("a zombie") fills the template.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

# Model config of the embedded CLIP (open_clip's CLIP(embed_dim, vision_cfg, text_cfg)): a ViT
# on 8x8 patches of 64 px images and a 4-layer text transformer on open_clip's own tokenizer.
EMBEDDED_MODEL_CFG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "layers": 4, "width": 128, "head_width": 32, "mlp_ratio": 4.0},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 4},
}
EMBEDDED_PREPROCESS_CFG = {"size": 64, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear",
                           "resize_mode": "shortest"}

# Templates: "{}" is the prompt. Photos for Hub models (a selection of StyleCLIP's ImageNet
# templates, made about faces), drawings for the cartoon faces of the embedded model.
PHOTO_TEMPLATES = ["a photo of {}.", "a good photo of {}.", "a close-up photo of {}.", "a bright photo of {}.",
                   "a cropped photo of {}.", "a photo of the nice {}.", "a rendering of {}.", "a portrait of {}."]
PHOTO_SUBJECTS = ["a face", "a person", "the face", "a portrait"]
CARTOON_TEMPLATES = ["{}", "a drawing of {}", "an illustration of {}"]
CARTOON_SUBJECTS = ["a cartoon face", "an avatar", "a cartoon person", "a face", "a cartoon portrait"]
ARTICLES = ("a ", "an ", "the ", "some ")


@dataclass
class ClipModel:
    model: torch.nn.Module                          # open_clip.CLIP
    tokenizer: object                               # open_clip's tokenizer for it
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    name: str                                       # for people: which CLIP this is
    templates: list = field(default_factory=lambda: list(PHOTO_TEMPLATES))
    subjects: list = field(default_factory=lambda: list(PHOTO_SUBJECTS))
    fingerprint: str = ""                           # which weights exactly: what cached analyses are keyed by

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device) -> "ClipModel":
        self.model.to(device)
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in about [-1, 1] -> the model's normalised input [N, 3, S, S]."""
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] > 3:
            x = x[:, :3]
        S = self.image_size
        if x.shape[-1] > S or x.shape[-2] > S:
            x = F.interpolate(x, size=(S, S), mode="area")
        elif x.shape[-1] != S or x.shape[-2] != S:
            x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x + 1) / 2 - mean) / std

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length image embeddings [N, D] of generator images (gradients flow)."""
        e = self.model.encode_image(self.preprocess(images.to(self.device)))
        return F.normalize(e.float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length text embeddings [N, D]."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def sentences(self, prompt: str) -> list[str]:
        """The prompt in every template: after each subject when it is a modifier ("with a
        hat"), in place of the subject when it is a description ("a zombie"). "" is the
        subject alone (the neutral text)."""
        prompt = " ".join(str(prompt).split())
        if prompt.lower().startswith(ARTICLES):
            things = [prompt]
        else:
            things = [f"{s} {prompt}".strip() for s in self.subjects]
        return [t.format(thing) for t in self.templates for thing in things]

    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """One unit vector [D] for a prompt: the mean of its templated sentences' embeddings."""
        return F.normalize(self.encode_texts(self.sentences(prompt)).mean(0), dim=-1)

    @torch.no_grad()
    def text_direction(self, prompt: str, neutral: str = "") -> torch.Tensor:
        """StyleCLIP's delta t: the unit vector from the neutral text to the target text."""
        d = self.encode_prompt(prompt) - self.encode_prompt(neutral)
        if float(d.norm()) < 1e-6:
            raise ValueError("the prompt and the neutral prompt mean the same to CLIP: nothing to edit towards")
        return F.normalize(d, dim=-1)


def random_crops(x: torch.Tensor, min_scale: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A random square crop of min_scale to 100% of the side of each image, anywhere in it,
    resized back to the image's size (CLIP's training augmentation, and the views of a CLIP loss)."""
    N = x.shape[0]
    scale = min_scale + (1 - min_scale) * torch.rand(N, generator=generator)
    cx = (torch.rand(N, generator=generator) * 2 - 1) * (1 - scale)
    cy = (torch.rand(N, generator=generator) * 2 - 1) * (1 - scale)
    theta = torch.zeros(N, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _is_embedded_layout(config: dict) -> bool:
    return config.get("model_cfg", {}).get("vision_cfg", {}).get("image_size") == 64


def load_clip(source: Union[str, os.PathLike], pretrained: Optional[str] = None, device="cpu") -> ClipModel:
    """A CLIP model through open_clip: a local folder in open_clip's Hub layout, "hf-hub:org/repo",
    or an open_clip model name with a pretrained tag (e.g. "ViT-B-32", "laion2b_s34b_b79k"),
    eval mode, no gradients for its weights."""
    import open_clip
    source = os.fspath(source)
    templates, subjects = PHOTO_TEMPLATES, PHOTO_SUBJECTS
    if os.path.isdir(source):
        with open(os.path.join(source, "open_clip_config.json")) as f:
            config = json.load(f)
        if config.get("templates") == "cartoon" or _is_embedded_layout(config):
            templates, subjects = CARTOON_TEMPLATES, CARTOON_SUBJECTS
        ident = f"local-dir:{source}"
        model = open_clip.create_model_and_transforms(ident)[0]
        tokenizer = open_clip.get_tokenizer(ident)
        name = os.path.basename(os.path.normpath(source))
        fingerprint = "sha256:" + _file_digest(os.path.join(source, "open_clip_model.safetensors"))
    else:
        model = open_clip.create_model_and_transforms(source, pretrained=pretrained)[0]
        tokenizer = open_clip.get_tokenizer(source)
        name = f"{source} ({pretrained})" if pretrained else source
        fingerprint = name
        if source.startswith("hf-hub:"):  # a model in open_clip's Hub layout: its config (already cached) may name its templates
            from huggingface_hub import hf_hub_download
            with open(hf_hub_download(source[len("hf-hub:"):], "open_clip_config.json")) as f:
                config = json.load(f)
            if config.get("templates") == "cartoon":
                templates, subjects = CARTOON_TEMPLATES, CARTOON_SUBJECTS
    vis = model.visual
    size = vis.image_size[0] if isinstance(vis.image_size, (tuple, list)) else int(vis.image_size)
    mean = getattr(vis, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
    std = getattr(vis, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)
    model = model.to(device).eval().requires_grad_(False)
    return ClipModel(model, tokenizer, size, tuple(mean), tuple(std), name, list(templates), list(subjects), fingerprint)


def _file_digest(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def build_embedded(seed: int = 0) -> ClipModel:
    """The embedded CLIP's architecture with fresh weights (training/train_clip.py trains it)."""
    import open_clip
    torch.manual_seed(seed)
    cfg = EMBEDDED_MODEL_CFG
    model = open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"])
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=cfg["text_cfg"]["context_length"])
    return ClipModel(model, tokenizer, cfg["vision_cfg"]["image_size"], EMBEDDED_PREPROCESS_CFG["mean"],
                     EMBEDDED_PREPROCESS_CFG["std"], "embedded CLIP (untrained)", list(CARTOON_TEMPLATES),
                     list(CARTOON_SUBJECTS))


def save_embedded(clip: ClipModel, folder: str, card: str = "", fp16: bool = True) -> None:
    """open_clip's Hub layout: open_clip_config.json + open_clip_model.safetensors (+ README.md),
    loadable by open_clip.create_model_and_transforms("local-dir:folder" or "hf-hub:org/repo")."""
    from safetensors.torch import save_file
    os.makedirs(folder, exist_ok=True)
    config = {"model_cfg": EMBEDDED_MODEL_CFG, "preprocess_cfg": EMBEDDED_PREPROCESS_CFG, "templates": "cartoon"}
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    sd = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous() for k, v in clip.model.state_dict().items()}
    save_file(sd, os.path.join(folder, "open_clip_model.safetensors"))
    if card:
        with open(os.path.join(folder, "README.md"), "w") as f:
            f.write(card)


__all__ = ["ClipModel", "load_clip", "build_embedded", "save_embedded", "random_crops", "EMBEDDED_MODEL_CFG"]
