"""memgov's exceptions: one class per memgov_status under MemgovError.

A refusal (MEMGOV_ENOMEM) is also a MemoryError, a parse error a ValueError, and so on, so code that catches the
built-in classes keeps working. The message is memgov_last_error(): what failed, the value and the limit it broke.
"""
from __future__ import annotations

from typing import Dict, NoReturn, Optional, Type

from ._lib import LIB, last_error, text


class MemgovError(Exception):
    """Base class of every error memgov raises. ``status`` is the memgov_status code, ``status_name`` its
    constant's name (e.g. "MEMGOV_ENOMEM"), ``message`` memgov's text."""

    status: int = -1

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message

    @property
    def status_name(self) -> str:
        """The C constant's name of the status."""
        return text(LIB.memgov_status_name(self.status))

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(MemgovError, ValueError):
    """MEMGOV_EINVAL: an argument is invalid."""
    status = 1


class BudgetExceededError(MemgovError, MemoryError):
    """MEMGOV_ENOMEM: refused, a hard limit would be exceeded (or the system has no memory)."""
    status = 2


class SizeOverflowError(MemgovError, OverflowError):
    """MEMGOV_EOVERFLOW: a size computation would overflow."""
    status = 3


class BusyError(MemgovError):
    """MEMGOV_EBUSY: the object is in use (live bytes, children, running thread)."""
    status = 4


class NotFoundError(MemgovError, LookupError):
    """MEMGOV_ENOTFOUND: no such key, name, file or object."""
    status = 5


class ExistsError(MemgovError):
    """MEMGOV_EEXIST: already exists."""
    status = 6


class RangeError(MemgovError, ValueError):
    """MEMGOV_ERANGE: a value is outside its allowed range (also: a callback table is full)."""
    status = 7


class ConfigTypeError(MemgovError, TypeError):
    """MEMGOV_ETYPE: a value has the wrong type for its key."""
    status = 8


class ParseError(MemgovError, ValueError):
    """MEMGOV_EPARSE: text could not be parsed (configuration, size with units, duration)."""
    status = 9


class MemgovIOError(MemgovError, OSError):
    """MEMGOV_EIO: an operating-system I/O call failed."""
    status = 10


class NoSpaceError(MemgovError, OSError):
    """MEMGOV_ENOSPC: no space left on the device."""
    status = 11


class UnsupportedError(MemgovError):
    """MEMGOV_EUNSUPPORTED: not supported on this platform or in this build."""
    status = 12


class StateError(MemgovError):
    """MEMGOV_ESTATE: not valid in the object's current state (also: a Python object used after close)."""
    status = 13


class CanceledError(MemgovError):
    """MEMGOV_ECANCELED: canceled by a callback or a shutdown."""
    status = 14


class InternalError(MemgovError):
    """MEMGOV_EINTERNAL: an internal invariant failed; please report it with the message."""
    status = 15


ERRORS: Dict[int, Type[MemgovError]] = {cls.status: cls for cls in (
    InvalidArgumentError, BudgetExceededError, SizeOverflowError, BusyError, NotFoundError, ExistsError,
    RangeError, ConfigTypeError, ParseError, MemgovIOError, NoSpaceError, UnsupportedError, StateError,
    CanceledError, InternalError)}


def error_for(status: int, message: Optional[str] = None) -> MemgovError:
    """The exception for a status; the message defaults to memgov_last_error() of this thread."""
    if message is None:
        message = last_error() or text(LIB.memgov_status_str(status))
    cls = ERRORS.get(status, MemgovError)
    return cls(message, status)


def check(status: int) -> None:
    """Raises the status's exception unless it is MEMGOV_OK (0)."""
    if status != 0:
        raise error_for(status)


def raise_last() -> NoReturn:
    """Raises the exception of this thread's last failed call (after a NULL return)."""
    raise error_for(LIB.memgov_last_status())
