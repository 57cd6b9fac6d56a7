"""Reading settings people type: environment variables, form fields, command-line values.

One parser for booleans and one check for whole numbers in a range, so every door (the limits,
the app's thread count, the NNPACK switch, the Hub's offline flag, the CLIs, the forms) accepts
the same spellings and refuses the rest with the same kind of message.
"""
from __future__ import annotations

import numbers
import os

from .errors import UserInputError

TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


def parse_bool(value, what: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); a bool passes through."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise UserInputError(f"{what} must be true or false (1/0, yes/no and on/off also work), got {value!r}")


def whole_number(value, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an int when it is a whole number within [lo, hi]: an int, a float without a
    fraction (forms send 32.0), or text like "40_000_000" or "2e9". Booleans are refused."""
    n = _as_int(value)
    if n is None or (lo is not None and n < lo) or (hi is not None and n > hi):
        if lo is not None and hi is not None:
            bounds = f" from {lo} to {hi}"
        elif lo == 1:
            bounds = " of at least 1"
        elif lo is not None:
            bounds = f" of at least {lo}"
        elif hi is not None:
            bounds = f" of at most {hi}"
        else:
            bounds = ""
        raise UserInputError(f"{what} must be a whole number{bounds}, got {value!r}")
    return n


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            f = float(text)
        except (ValueError, OverflowError):
            return None
        return int(f) if f.is_integer() else None
    return None


def env_raw(name: str) -> str | None:
    """The variable's text, or None when it is unset or blank (an empty variable counts as unset)."""
    value = os.environ.get(name)
    return None if value is None or not value.strip() else value.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_raw(name)
    return default if raw is None else parse_bool(raw, name)


def env_int(name: str, default: int, lo: int = 1, hi: int | None = None) -> int:
    raw = env_raw(name)
    return default if raw is None else whole_number(raw, name, lo, hi)
