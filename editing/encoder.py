"""Encoders, for what editing/ does with them (projection's encoder and hybrid recipes): the
networks live in the companion room (companions/encoder.py, companions/psp.py); this is the
name scripts use.

    from editing.encoder import load_encoder
    enc = load_encoder("e4e_ffhq_encode.pt")         # or a folder of ours, or pSp / ReStyle files
    ws = enc.encode(images)                          # [-1, 1], any size -> [N, num_ws, w_dim]
    ws = enc.encode(images, G=G, iterations=5)       # ReStyle: refined against G's reconstructions
"""
from companions.encoder import Encoder, load_encoder
from companions.psp import EncoderFileError, ReleasedEncoder

__all__ = ["Encoder", "ReleasedEncoder", "EncoderFileError", "load_encoder"]
