"""Sizes as Python accepts them: an int of bytes, or text in memgov's size syntax ("2GiB", "512M", "1.5G",
"500MB", "80%" of the effective memory). Text is parsed by libmemgov's own parser (memgov_config_parse_size),
so Python and C agree on every unit and every error message."""
from __future__ import annotations

import ctypes
from typing import Union

from ._lib import LIB
from .errors import error_for, ConfigTypeError, InvalidArgumentError, ParseError, RangeError

SizeLike = Union[int, str]

def _check_parse(st: int, what: str) -> None:
    """Raises for a failed parse: text that is not a size or duration (MEMGOV_ETYPE or MEMGOV_EPARSE) is a
    ParseError, any other status its own class; the message is the library's, prefixed with `what`."""
    if st == 0:
        return
    err = error_for(st)
    cls = ParseError if st in (ConfigTypeError.status, ParseError.status) else type(err)
    raise cls(f"{what}: {err.message}", st)


def parse_size(value: SizeLike, what: str = "size") -> int:
    """Bytes of `value`: a non-negative int below 2**64, or text such as "2GiB", "512M", "80%".

    Raises memgov.ParseError / ConfigTypeError for text that is not a size, memgov.RangeError for a negative or
    too large value, TypeError for other types. The message names the value."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what}: expected an int of bytes or a size text like '2GiB', got {value!r}")
    if isinstance(value, int):
        if value < 0 or value >= 1 << 64:
            raise RangeError(f"{what}: {value} bytes is outside 0 .. 2^64-1")
        return value
    text = value.strip()
    if not text:
        raise InvalidArgumentError(f"{what}: empty size text")
    effective = 0
    if text.endswith("%"):
        from .probe import probe
        effective = probe(hwloc=False, cpuid=False).effective_memory
    out = ctypes.c_uint64()
    _check_parse(LIB.memgov_config_parse_size(text.encode(), effective, ctypes.byref(out)), what)
    return out.value


def parse_duration(value: Union[int, float, str], what: str = "duration") -> float:
    """Seconds of `value`: a number of seconds, or text in memgov's duration syntax ("100ms", "2s", "1.5min")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{what}: expected seconds or a duration text like '100ms', got {value!r}")
    if not isinstance(value, str):
        if value < 0:
            raise RangeError(f"{what}: {value} s is negative")
        return float(value)
    out = ctypes.c_uint64()
    _check_parse(LIB.memgov_config_parse_duration(value.strip().encode(), ctypes.byref(out)), what)
    return out.value / 1e9


def format_bytes(n: int) -> str:
    """Bytes in binary units with three significant digits ("1.50 KiB", "64.0 MiB"): memgov_format_bytes."""
    buf = ctypes.create_string_buffer(32)
    LIB.memgov_format_bytes(n, buf, len(buf))
    return buf.value.decode()
