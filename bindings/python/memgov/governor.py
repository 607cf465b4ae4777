"""The governor: one instance of memgov with its root budget, configuration, fallback machine and monitor."""
from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, TypeVar, Union

from . import _lib
from ._lib import LIB
from .budget import Budget, _cleanup, _State
from .config import Config, ValidationResult
from .errors import BusyError, InvalidArgumentError, MemgovError, StateError, check, error_for
from .fallback import Fallback, Mode, run_with_fallback
from .monitor import Monitor
from .sizes import SizeLike, parse_size

if TYPE_CHECKING:
    from .ramdisk import RamDisk

F = TypeVar("F", bound=Callable[..., Any])
PathLike = Union[str, "os.PathLike[str]"]


class _GovState:
    """What the governor's finalizer needs; shared with its budgets' finalizers."""

    def __init__(self, handle: int, is_default: bool) -> None:
        self.handle = handle
        self.is_default = is_default
        self.closed = False
        self.lock = threading.RLock()
        self.budgets: List[_State] = []
        self.devices: List[Any] = []    # open memgov.Gpu objects: closed before the governor (memgov/gpu.h)
        self.keep: List[Any] = []       # C callback objects that must live as long as the governor
        self.monitor_running_by_us = False
        self.root: Optional[_State] = None


_unclosable: List[_GovState] = []  # governors whose close failed in a finalizer: their callbacks stay referenced


def _stop_monitor(s: _GovState) -> None:
    mon = LIB.memgov_governor_monitor(s.handle)
    if mon:
        LIB.memgov_monitor_stop(mon)  # MEMGOV_ESTATE when not running: fine


def _close_state(s: _GovState, raise_errors: bool) -> None:
    with s.lock:
        if s.closed:
            return
        for b in reversed(s.budgets):  # children were created after their parents
            _cleanup(s, b)
        for d in list(s.devices):  # a device with live blocks stays open, and memgov_close then says so
            try:
                d.close()
            except MemgovError:
                pass
        if s.is_default:
            if s.keep:  # no Python callback may run after the interpreter is gone
                _stop_monitor(s)
            return
        busy = [b.name for b in s.budgets if not b.destroyed and b.handlers]
        if s.root is not None and s.root.handlers:
            # the C root may be empty, but an entered numpy context (or a copied one) would allocate from it
            err = BusyError(f"cannot close the governor: numpy uses its root budget 'root' as the handler of "
                            f"{s.root.handlers} context(s) or array(s)", 4)
            if raise_errors:
                raise err
            if s.keep:
                _stop_monitor(s)
            _unclosable.append(s)
            return
        st = LIB.memgov_close(s.handle)
        if st == 0:
            s.closed = True
            for b in s.budgets:
                b.destroyed = True
            s.budgets.clear()
            s.keep.clear()
            return
        err = error_for(st)
        if busy:
            err = type(err)(f"{err.message} (numpy arrays or contexts still use budget(s) {', '.join(busy)})", st)
        if raise_errors:
            raise err
        if s.keep:
            _stop_monitor(s)
            _unclosable.append(s)


class Governor:
    """A memgov governor. ``Governor()`` opens a new one; ``memgov.default()`` is the process-wide one.

    limit / soft_limit: the root budget's hard and soft limits (int bytes or text such as "2GiB", "80%"); None
    takes the configuration's root.limit (default 90% of the effective memory) and root.soft_ratio; limit=0
    means no hard limit on the root (only child budgets cap).
    config: a configuration file to load, or a mapping of keys to values set after opening.
    env: read MEMGOV_CONFIG_FILE and the MEMGOV_<KEY> environment variables.
    monitor: start the monitor's sampler thread (each sample also feeds the fallback machine).
    strict: out-of-bounds configuration values fail instead of being clamped.
    proc_root: where /proc and /sys are read (tests, containers).

    Use it as a context manager (closes on exit) or call close(). Thread safety: any thread may use it; close()
    needs no other thread still using it."""

    def __init__(self, limit: Optional[SizeLike] = None, soft_limit: Optional[SizeLike] = None,
                 config: Union[None, PathLike, Mapping[str, Any]] = None, env: bool = True,
                 monitor: bool = False, strict: bool = False, proc_root: Optional[PathLike] = None,
                 _handle: Optional[int] = None) -> None:
        if _handle is not None:  # memgov.default()
            self._s = _GovState(_handle, True)
        else:
            opts = _lib.Options.new()
            LIB.memgov_options_init(ctypes.byref(opts))
            if limit is not None:
                opts.root_limit = parse_size(limit, "limit") or _lib.OPEN_NO_LIMIT
            if soft_limit is not None:
                opts.root_soft_limit = parse_size(soft_limit, "soft_limit")
            mapping: Optional[Mapping[str, Any]] = None
            if config is not None and not isinstance(config, (str, os.PathLike)):
                mapping = config
            elif config is not None:
                opts.config_file = os.fsencode(config)
            opts.flags = ((0 if env else _lib.OPEN_NO_ENV) | (_lib.OPEN_STRICT if strict else 0) |
                          (_lib.OPEN_START_MONITOR if monitor else 0))
            if proc_root is not None:
                opts.proc_root = os.fsencode(proc_root)
            h = ctypes.c_void_p()
            check(LIB.memgov_open(ctypes.byref(opts), ctypes.byref(h)))
            self._s = _GovState(h.value or 0, False)
            self._s.monitor_running_by_us = monitor
        self._finalizer = weakref.finalize(self, _close_state, self._s, False)
        h = self._s.handle
        self._root = Budget(self, LIB.memgov_root(h), owned=False)
        self._s.root = self._root._s
        self._config = Config(LIB.memgov_governor_config(h), self._s)
        self._fallback = Fallback(LIB.memgov_governor_fallback(h), self._s)
        self._monitor = Monitor(LIB.memgov_governor_monitor(h), self._s)
        if _handle is None and mapping is not None:
            try:
                for key, value in mapping.items():
                    self._config.set(key, value)
            except BaseException:
                self.close()
                raise

    # -- parts ------------------------------------------------------------------------------------------------
    def _check(self) -> int:
        if self._s.closed:
            raise StateError("the governor is closed")
        return self._s.handle

    @property
    def handle(self) -> int:
        """The memgov* address, for C code."""
        return self._check()

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._s.closed

    @property
    def is_default(self) -> bool:
        """True for memgov.default()."""
        return self._s.is_default

    @property
    def root(self) -> Budget:
        """The root budget: every budget of the governor is below it; its limits are the governor's."""
        self._check()
        return self._root

    @property
    def config(self) -> Config:
        """The governor's configuration (memgov_governor_config)."""
        self._check()
        return self._config

    @property
    def fallback(self) -> Fallback:
        """The governor's fallback machine (NORMAL -> LIGHT -> MINIMAL)."""
        self._check()
        return self._fallback

    @property
    def monitor(self) -> Monitor:
        """The governor's monitor (metrics, alerts, reports)."""
        self._check()
        return self._monitor

    @property
    def open_warnings(self) -> "ValidationResult":
        """What opening said about the configuration it loaded (file, environment): warnings (unknown keys with
        a "did you mean", duplicates) and corrections (values clamped to their bounds); errors make opening
        fail instead."""
        from .config import read_result
        return read_result(LIB.memgov_governor_config_result(self._check()))

    @property
    def mode(self) -> Mode:
        """The fallback machine's current mode."""
        return self.fallback.mode

    def _new_budget(self, create: Callable[..., int], name: str, hard: Optional[SizeLike], soft: Optional[SizeLike],
                    flags: int, parent: Optional[Budget], *extra: Any) -> Budget:
        """A budget made by create(parent handle, options, *extra, out) under `parent` (default: the root)."""
        self._check()
        if parent is None:
            parent = self._root
        elif parent._gov is not self:
            raise InvalidArgumentError(f"budget '{parent.name}' belongs to another governor")
        ph = parent._check()
        opts = _lib.BudgetOptions.new()
        LIB.memgov_budget_options_init(ctypes.byref(opts))
        opts.name = str(name).encode()
        opts.hard_limit = 0 if hard is None else parse_size(hard, f"budget '{name}' hard limit")
        opts.soft_limit = 0 if soft is None else parse_size(soft, f"budget '{name}' soft limit")
        opts.flags = flags
        out = ctypes.c_void_p()
        with self._s.lock:
            check(create(ph, ctypes.byref(opts), *extra, ctypes.byref(out)))
            return Budget(self, out.value or 0, owned=True, parent=parent)

    def budget(self, name: str, hard: Optional[SizeLike] = None, soft: Optional[SizeLike] = None,
               own_arena: bool = False, parent: Optional[Budget] = None) -> Budget:
        """Creates a budget named `name` under `parent` (default: the root) with a hard cap and a soft limit
        (int bytes or text; None = none of its own, ancestors still apply); own_arena: its blocks come from a
        jemalloc arena of its own. RangeError when soft > hard or the tree is too deep."""
        return self._new_budget(LIB.memgov_budget_create, name, hard, soft,
                                _lib.BUDGET_OWN_ARENA if own_arena else 0, parent)

    def threads(self, n_jobs: Optional[int] = -1, bytes_per_worker: Optional[SizeLike] = None,
                budget: Optional[Budget] = None, limit_pools: bool = True, all_or_nothing: bool = False,
                timeout: Optional[float] = None) -> Any:
        """Worker threads for a ``with`` block: ``with gov.threads(n_jobs=-1, bytes_per_worker="1GiB") as n:``
        gives the granted count n for joblib's or scikit-learn's n_jobs, reserves n x bytes_per_worker on the
        budget, and limits numpy's BLAS and the OpenMP runtimes to n inside the block (memgov.threads.lease says
        every argument; docs/python.md)."""
        from .threads import lease
        return lease(self, n_jobs, bytes_per_worker, budget, limit_pools, all_or_nothing, timeout)

    def ramdisk(self, cap: SizeLike, budget: Optional[Budget] = None, parent: Optional[PathLike] = None,
                allow_disk: bool = False) -> "RamDisk":
        """A capped scratch folder in /dev/shm (memgov.ramdisk.RamDisk) whose files are charged to `budget`
        (default: the root) and to `cap`; a context manager that removes the folder on exit."""
        from .ramdisk import RamDisk
        self._check()
        return RamDisk(cap, budget=self._root if budget is None else budget, parent=parent, allow_disk=allow_disk)

    def file_budget(self, name: str, hard: Optional[SizeLike] = None, soft: Optional[SizeLike] = None,
                    dir: Optional[PathLike] = None, placement: str = "auto",  # noqa: A002 - the issue's spelling
                    parent: Optional[Budget] = None) -> Budget:
        """Creates a file-backed budget (docs/memmap.md): its blocks, numpy arrays allocated in its numpy()
        context included, live in an unlinked file in `dir` (default: the configuration's memmap.dir, else
        $TMPDIR, else /var/tmp), so the kernel pages them out to disk instead of swapping. `hard` caps the disk
        use (default: memmap.cap); its bytes are not charged to its ancestors. placement: "auto", "ram"
        (/dev/shm) or "disk" (refuses a memory filesystem). A directory that cannot be used raises
        InvalidArgumentError or an I/O error naming it."""
        if placement not in _lib.FILE_PLACEMENTS:
            raise InvalidArgumentError(f"placement {placement!r} is not one of {', '.join(_lib.FILE_PLACEMENTS)}")
        fopts = _lib.FileBudgetOptions.new()
        LIB.memgov_file_budget_options_init(ctypes.byref(fopts))
        fopts.dir = None if dir is None else os.fsencode(dir)
        fopts.config = LIB.memgov_governor_config(self._check())
        fopts.placement = _lib.FILE_PLACEMENTS[placement]
        return self._new_budget(LIB.memgov_file_budget_create, name, hard, soft, 0, parent, ctypes.byref(fopts))

    # -- recommendations and fallback -------------------------------------------------------------------------
    def recommend(self, data_bytes: SizeLike = 0, row_bytes: SizeLike = 0) -> Dict[str, Any]:
        """Settings for data_bytes of input made of rows of row_bytes (0 = unknown / 1 KiB) on this machine,
        within the configuration's bounds: a dict with memory_fraction, memory_limit, threads, batch_size,
        chunk_rows and "reasons" (each setting's one-line explanation)."""
        return self.config.recommend(data_bytes, row_bytes)

    def run_with_fallback(self, fn: Callable[[Mode], Any], retries: int = 3, backoff: float = 0.1,
                          backoff_max: float = 2.0) -> Any:
        """Runs fn(mode) in the current mode; when it raises MemoryError (Python's, numpy's or memgov's), moves
        the fallback machine down one mode (so the configuration reads lighter settings), waits (exponential
        backoff from `backoff` seconds) and retries, at most `retries` times. Returns fn's result; re-raises the
        last MemoryError when every attempt failed, and any other exception at once."""
        self._check()
        return run_with_fallback(self._fallback, fn, retries, backoff, backoff_max,
                                 lambda job, opts, res: LIB.memgov_run_with_fallback(self._s.handle, job, None,
                                                                                     opts, res))

    def with_fallback(self, retries: int = 3, backoff: float = 0.1, backoff_max: float = 2.0) -> Callable[[F], F]:
        """Decorator: the function is run as run_with_fallback() runs it, receiving the mode as the keyword
        argument ``mode``::

            @gov.with_fallback(retries=2)
            def features(df, mode):
                batch = gov.config["batch.max"]   # lighter in LIGHT / MINIMAL
        """
        def deco(fn: F) -> F:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kw: Any) -> Any:
                return self.run_with_fallback(lambda mode: fn(*args, mode=mode, **kw), retries, backoff,
                                              backoff_max)
            return wrapper  # type: ignore[return-value]
        return deco

    # -- life cycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Destroys the governor's empty budgets and closes it. BusyError (the governor stays open) while a budget
        holds live bytes, e.g. numpy arrays allocated from it are alive. Idempotent. For memgov.default() it
        only destroys the empty budgets made from Python (the default lives until the process ends)."""
        _close_state(self._s, True)

    def __enter__(self) -> "Governor":
        self._check()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        except BusyError:
            if exc[0] is None:
                raise

    def __repr__(self) -> str:
        if self._s.closed:
            return "<memgov.Governor (closed)>"
        return f"<memgov.Governor{' default' if self._s.is_default else ''} root={self._root!r} mode={self.mode.name}>"


_default: Optional[Governor] = None
_default_lock = threading.Lock()


def default() -> Governor:
    """The process-wide default governor (memgov_default()), configured from MEMGOV_CONFIG_FILE and the
    MEMGOV_<KEY> environment variables, created on first use and never closed."""
    global _default
    with _default_lock:
        if _default is None:
            h = LIB.memgov_default()
            if not h:
                raise error_for(LIB.memgov_last_status())
            _default = Governor(_handle=h)
        return _default
