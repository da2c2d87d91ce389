"""One error type for everything a visitor can get wrong or run into, with a message meant for
people; and the scrubbing that keeps server details (paths, folders) out of any message."""
import os
import re


class StudioError(ValueError):
    """Shown to the visitor as it is: say what was wrong and what would work."""


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:/[^\s'\"`,;:()\[\]{}<>]+)+")


def scrub(message: str) -> str:
    """The message with every absolute path on this server cut to its last part ('x.pkl'),
    so no message tells a visitor how the server's disk is laid out."""
    return _ABSOLUTE_PATH.sub(lambda m: os.path.basename(m.group(0).rstrip("/")) or "…", message)


def public_message(error: BaseException) -> str:
    """What the visitor sees for an error: the message of errors meant for people (scrubbed),
    a fixed sentence for anything else (a bug of ours, logged on the server)."""
    if isinstance(error, ValueError):  # StudioError, stylegan.CheckpointError and the editing functions' checks
        text = str(error).strip() or type(error).__name__
        return scrub(text)[:1000]
    if isinstance(error, ImportError):  # an optional package this server lacks: say which, not where
        name = (getattr(error, "name", None) or "a Python package").split(".")[0]
        return (f"This needs the Python package '{name}', which is not installed on this server; "
                "its operator can install it with requirements.txt.")
    if isinstance(error, MemoryError):
        return "The server ran out of memory for this request; try fewer or smaller images."
    return f"Something went wrong on the server ({type(error).__name__}); it has been logged. Try again, or other settings."

