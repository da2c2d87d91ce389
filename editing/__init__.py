"""What you do with latents: seeds, truncation, generation (more to come: mixing,
interpolation, projection, directions, CLIP). Plain functions, usable without Gradio."""
from .generate import MAX_SEED, generate_images, seed_to_z

__all__ = ["MAX_SEED", "generate_images", "seed_to_z"]
