"""The errors of checkpoint loading: each message is meant for the person who asked."""


class CheckpointError(ValueError):
    """A file that is not a StyleGAN generator we can read, with a message for people."""


class UnsafePickleError(CheckpointError):
    """A pickle that asked to run something a StyleGAN checkpoint never needs."""
