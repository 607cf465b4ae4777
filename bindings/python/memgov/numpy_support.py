"""numpy governance: memory handlers (numpy >= 1.22, NEP 49) that allocate array data from a memgov budget.

Used through ``Budget.numpy()``; this module holds the machinery: loading the extension module, handing it the
addresses of libmemgov's allocation functions, and making numpy's MemoryError carry memgov's refusal text.

numpy's handler is a context variable: it applies to the current thread (and asyncio task, which copies the
context when it is created). A new thread starts with numpy's default handler; enter the budget's context inside
the thread (``with budget.numpy():``, ``budget.bind(fn)``, or ``budget.install_numpy_handler`` as a thread-pool
initializer), or run the work in a copied context (``contextvars.copy_context().run``).
"""
from __future__ import annotations

import threading
from typing import Any, Optional

from ._lib import address

_lock = threading.Lock()
_ext: Any = None


def extension() -> Any:
    """The initialised extension module; ImportError if numpy or the extension is missing."""
    global _ext
    if _ext is not None:
        return _ext
    with _lock:
        if _ext is None:
            try:
                import numpy  # noqa: F401
            except ImportError as e:
                raise ImportError("memgov: budget.numpy() needs numpy (Debian: python3-numpy)") from e
            try:
                from . import _numpy_handler as ext  # type: ignore[attr-defined]
            except ImportError as e:
                raise ImportError("memgov: the numpy handler extension (memgov._numpy_handler) is not built: "
                                  f"{e}; reconfigure with numpy's headers available") from e
            ext.init(address("memgov_malloc"), address("memgov_calloc"), address("memgov_realloc"),
                     address("memgov_free"), address("memgov_last_error"))
            _patch_memory_error()
            _ext = ext
    return _ext


def _patch_memory_error() -> None:
    """numpy raises numpy.core._exceptions._ArrayMemoryError when an array's data cannot be allocated; its text
    is numpy's ("Unable to allocate 8.00 MiB for an array with shape ..."). When the allocation was a memgov
    refusal on this thread for the same number of bytes, append memgov's message and keep it in
    ``memgov_message``."""
    try:
        from numpy.core._exceptions import _ArrayMemoryError
    except ImportError:  # a numpy without it: refusals still raise MemoryError, without memgov's text
        return
    if getattr(_ArrayMemoryError, "_memgov_patched", False):
        return
    orig_init = _ArrayMemoryError.__init__
    orig_str = _ArrayMemoryError.__str__

    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        orig_init(self, *args, **kw)
        msg: Optional[str] = None
        if _ext is not None:
            try:
                msg = _ext.take_refusal(int(self._total_size))
            except Exception:  # pragma: no cover - numpy internals changed: keep numpy's text
                msg = None
        self.memgov_message = msg

    def __str__(self: Any) -> str:
        text = orig_str(self)
        msg = getattr(self, "memgov_message", None)
        return f"{text}: {msg}" if msg else text

    _ArrayMemoryError.__init__ = __init__
    _ArrayMemoryError.__str__ = __str__
    _ArrayMemoryError.memgov_message = None
    _ArrayMemoryError._memgov_patched = True


def handler_name(array: Any) -> str:
    """The name of the handler that allocated `array`'s data: "memgov:<budget>" for a budget's, "default_allocator"
    for numpy's own (numpy.core.multiarray.get_handler_name)."""
    from numpy.core.multiarray import get_handler_name
    return str(get_handler_name(array))
