"""RAM-disk folders (memgov/memmap.h): a capped scratch folder in /dev/shm whose files are charged to a budget,
removed on close, at exit, and after a crash by the next process's sweep. Made with ``Governor.ramdisk()``::

    with gov.ramdisk(cap="2GiB") as rd:
        with rd.create_file("part-0.bin", 64 << 20) as f:   # 64 MiB charged before it is allocated
            f.write(data)
        other_library.write_into(rd.path)                   # a path handed to a library ...
        rd.recount()                                        # ... is charged after the fact
"""
from __future__ import annotations

import ctypes
import os
import weakref
from typing import IO, Any, Optional, Union

from . import _lib
from ._lib import LIB
from .errors import StateError, check
from .sizes import SizeLike, parse_size

__all__ = ["RamDisk", "sweep"]

PathLike = Union[str, "os.PathLike[str]"]


class RamDisk:
    """A capped folder in a memory filesystem (memgov_ramdisk). Use as a context manager or call close(); also
    closed when collected and at interpreter exit. Not thread-safe: one thread at a time per folder."""

    def __init__(self, cap: SizeLike, budget: Any = None, parent: Optional[PathLike] = None,
                 prefix: Optional[str] = None, allow_disk: bool = False, sweep: bool = True) -> None:
        o = _lib.RamdiskOptions.new()
        LIB.memgov_ramdisk_options_init(ctypes.byref(o))
        o.cap = parse_size(cap, "ramdisk cap")
        o.parent = os.fsencode(parent) if parent is not None else None
        o.prefix = prefix.encode() if prefix is not None else None
        o.budget = budget.handle if budget is not None else None
        o.flags = (_lib.RAMDISK_ALLOW_DISK if allow_disk else 0) | (0 if sweep else _lib.RAMDISK_NO_SWEEP)
        h = ctypes.c_void_p()
        check(LIB.memgov_ramdisk_create(ctypes.byref(o), ctypes.byref(h)))
        self._h: Optional[int] = h.value
        self._budget = budget  # must outlive the charge
        self.path: str = _lib.text(LIB.memgov_ramdisk_path(self._h))
        self._finalizer = weakref.finalize(self, LIB.memgov_ramdisk_close, self._h)

    def _check(self) -> int:
        if self._h is None:
            raise StateError(f"ramdisk '{self.path}' is closed")
        return self._h

    @property
    def cap(self) -> int:
        """The folder's cap in bytes."""
        return int(LIB.memgov_ramdisk_cap(self._check()))

    @property
    def used(self) -> int:
        """Bytes charged for the folder now (create_file and the last recount)."""
        return int(LIB.memgov_ramdisk_used(self._check()))

    def create_file(self, name: str, size: SizeLike = 0) -> IO[bytes]:
        """Creates file `name` of `size` bytes in the folder, charged (page-rounded) before its space is
        allocated, and returns it open for reading and writing ("r+b"). BudgetExceededError when the cap or the
        budget refuses, ExistsError when it exists."""
        fd = ctypes.c_int(-1)
        check(LIB.memgov_ramdisk_create_file(self._check(), name.encode(), parse_size(size, "file size"),
                                             ctypes.byref(fd)))
        return os.fdopen(fd.value, "r+b")

    def remove(self, name: str) -> None:
        """Removes file (or sub-folder) `name` and re-counts the folder."""
        check(LIB.memgov_ramdisk_remove_file(self._check(), name.encode()))

    def recount(self) -> int:
        """Measures what the folder's files take (what libraries wrote there too), moves the charge to it and
        returns it. BudgetExceededError when the folder holds more than its cap or the budget refuses."""
        out = ctypes.c_uint64()
        check(LIB.memgov_ramdisk_recount(self._check(), ctypes.byref(out)))
        return int(out.value)

    def close(self) -> None:
        """Removes the folder and everything in it and releases the charge. Idempotent. MemgovIOError when
        something could not be removed (the message names it)."""
        h, self._h = self._h, None
        if h is not None:
            self._finalizer.detach()
            check(LIB.memgov_ramdisk_close(h))

    def __enter__(self) -> "RamDisk":
        self._check()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._h is None:
            return f"<memgov.RamDisk '{self.path}' (closed)>"
        return f"<memgov.RamDisk '{self.path}' used {self.used} of {self.cap} bytes>"


def sweep(parent: Optional[PathLike] = None, prefix: Optional[str] = None) -> int:
    """Removes the folders of dead processes from `parent` (default /dev/shm); returns how many."""
    out = ctypes.c_uint()
    check(LIB.memgov_ramdisk_sweep(os.fsencode(parent) if parent is not None else None,
                                   prefix.encode() if prefix is not None else None, ctypes.byref(out)))
    return int(out.value)
