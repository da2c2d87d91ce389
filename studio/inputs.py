"""Every value a visitor sends, checked before it is used: NaN, infinities, None, text where a
number belongs, values out of range -> a StudioError naming the field and its range."""
import math
from typing import Sequence

from .errors import StudioError


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value, field: str, lo: float, hi: float) -> float:
    """A finite float in [lo, hi]."""
    if isinstance(value, bool) or value is None:
        raise StudioError(f"{field} must be a number from {lo:g} to {hi:g}; got {_describe(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise StudioError(f"{field} must be a number from {lo:g} to {hi:g}; got {_describe(value)}") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise StudioError(f"{field} must be a number from {lo:g} to {hi:g}; got {_describe(value)}")
    return x


def integer(value, field: str, lo: int, hi: int) -> int:
    """A whole number in [lo, hi] (2.0 is accepted as 2; 2.5 is not)."""
    if isinstance(value, bool) or value is None:
        raise StudioError(f"{field} must be a whole number from {lo} to {hi}; got {_describe(value)}")
    if isinstance(value, int):
        x = value
    else:
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):
            raise StudioError(f"{field} must be a whole number from {lo} to {hi}; got {_describe(value)}") from None
        if not math.isfinite(f) or f != int(f):
            raise StudioError(f"{field} must be a whole number from {lo} to {hi}; got {_describe(value)}")
        x = int(f)
    if not lo <= x <= hi:
        raise StudioError(f"{field} must be a whole number from {lo} to {hi}; got {_describe(value)}")
    return x


def choice(value, field: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise StudioError(f"{field} must be one of {', '.join(map(str, choices))}; got {_describe(value)}")
    return value


def flag(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise StudioError(f"{field} must be true or false; got {_describe(value)}")


def text(value, field: str, max_len: int = 1000) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise StudioError(f"{field} must be text; got {_describe(value)}")
    if len(value) > max_len:
        raise StudioError(f"{field} is too long (at most {max_len} characters)")
    if "\x00" in value:
        raise StudioError(f"{field} contains a NUL character")
    return value
