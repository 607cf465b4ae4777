"""Sizes as Python accepts them: an int of bytes, or text in memgov's size syntax ("2GiB", "512M", "1.5G",
"500MB", "80%" of the effective memory). Text is parsed by libmemgov's own configuration parser (a private
configuration with one size key), so Python and C agree on every unit and every error message."""
from __future__ import annotations

import ctypes
import threading
from typing import Optional, Union

from ._lib import LIB, ConfigKey, CONFIG_TYPES
from .errors import check, error_for, InvalidArgumentError, ParseError, RangeError

SizeLike = Union[int, str]

_KEY = b"python.size"
_lock = threading.Lock()
_scratch: Optional[int] = None


def _config() -> int:
    global _scratch
    if _scratch is None:
        cfg = ctypes.c_void_p()
        check(LIB.memgov_config_create(ctypes.byref(cfg)))
        key = ConfigKey.new(name=_KEY, type=CONFIG_TYPES["size"], default_value=b"0",
                            doc=b"sizes given to the Python package")
        st = LIB.memgov_config_register(cfg, ctypes.byref(key))
        if st != 0:
            err = error_for(st)
            LIB.memgov_config_destroy(cfg)
            raise err
        _scratch = cfg.value
    return _scratch


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
    out = ctypes.c_uint64()
    with _lock:
        cfg = _config()
        st = LIB.memgov_config_set(cfg, _KEY, text.encode())
        if st == 0:
            st = LIB.memgov_config_get_size(cfg, _KEY, ctypes.byref(out))
        if st != 0:
            err = error_for(st)
            why = err.message.split(" is not a valid size: ", 1)[-1].replace(" (allowed any size)", "")
            cls = ParseError if st in (8, 9) else type(err)  # text that is not a size is a parse error
            raise cls(f"{what}: {text!r} is not a valid size: {why}", st)
    return out.value


def format_bytes(n: int) -> str:
    """Bytes in binary units with three significant digits ("1.50 KiB", "64.0 MiB"): memgov_format_bytes."""
    buf = ctypes.create_string_buffer(32)
    LIB.memgov_format_bytes(n, buf, len(buf))
    return buf.value.decode()
