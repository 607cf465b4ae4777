"""Budgets: byte caps that allocation never crosses, and numpy's memory charged to them."""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar

from . import _lib
from ._lib import LIB
from .errors import BusyError, InvalidArgumentError, StateError, check, error_for
from .sizes import SizeLike, format_bytes, parse_size

if TYPE_CHECKING:  # pragma: no cover
    from .governor import Governor

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("memgov")


def _default_callback_error_hook(where: str, exc: BaseException) -> None:
    log.error("memgov: a Python callback (%s) raised %s: %s", where, type(exc).__name__, exc,
              exc_info=(type(exc), exc, exc.__traceback__))


#: Called as hook(where, exception) when a Python callback run by memgov (reclaim, event, alert, metric,
#: transition, emergency, configuration listener) raises. The exception never reaches the C library or crashes
#: the process; the default hook logs it on the "memgov" logger. Replace it with set_callback_error_hook().
_callback_error_hook: Callable[[str, BaseException], None] = _default_callback_error_hook


def set_callback_error_hook(hook: Optional[Callable[[str, BaseException], None]]) -> Callable[[str, BaseException], None]:
    """Sets the function called with (where, exception) when a memgov callback raises; None restores the
    default (log on the "memgov" logger). Returns the previous hook."""
    global _callback_error_hook
    old = _callback_error_hook
    _callback_error_hook = hook if hook is not None else _default_callback_error_hook
    return old


def report_callback_error(where: str, exc: BaseException) -> None:
    """Reports an exception raised by a Python callback; never raises."""
    try:
        _callback_error_hook(where, exc)
    except BaseException:  # noqa: BLE001 - a failing hook must not reach C either
        try:
            _default_callback_error_hook(where, exc)
        except BaseException:  # noqa: BLE001
            pass


EVENT_KINDS = {1: "soft_crossed", 2: "soft_cleared", 3: "hard_refusal", 4: "limit_changed", 5: "spilled"}


@dataclasses.dataclass(frozen=True)
class BudgetStats:
    """A budget's numbers (memgov_budget_stats), bytes unless said otherwise. ``used``: live bytes of the budget
    and its descendants; ``peak``: highest charged bytes (per-thread stocks included); limits 0 = none;
    ``reserved``: bytes of reserve() not yet released; counts of allocations, frees, refusals and reclaim
    callback calls; ``children``; the arena fields only with own_arena."""
    used: int
    peak: int
    hard_limit: int
    soft_limit: int
    reserved: int
    allocations: int
    frees: int
    refusals: int
    reclaims: int
    children: int
    own_arena: bool
    arena_allocated: int
    arena_active: int
    arena_resident: int
    arena_mapped: int
    arena_retained: int


@dataclasses.dataclass(frozen=True)
class FileStats:
    """A file-backed budget's file (memgov_file_budget_stats), bytes: ``dir`` where it was created;
    ``disk_bytes`` the disk it occupies; ``file_size`` its apparent length; ``committed_bytes`` allocated for the
    arena; ``resident_bytes`` of the mapping in memory now; ``address_space`` reserved; ``grow_failures`` times
    the disk refused to grow it."""
    dir: str
    disk_bytes: int
    file_size: int
    committed_bytes: int
    resident_bytes: int
    address_space: int
    grow_failures: int


@dataclasses.dataclass(frozen=True)
class SpillStats:
    """A budget's spill numbers (memgov_spill_stats): ``target`` the spill target's name (None: none);
    ``min_bytes`` the smallest request that may spill; ``spilled`` allocations served by the target
    (``spilled_direct`` of them sent at once in MINIMAL mode); ``live_blocks``/``live_bytes`` spilled and not
    freed; ``failed`` requests the target refused too."""
    target: Optional[str]
    min_bytes: int
    spilled: int
    spilled_direct: int
    live_blocks: int
    live_bytes: int
    failed: int


@dataclasses.dataclass(frozen=True)
class BudgetEvent:
    """A budget event: ``kind`` is "soft_crossed", "soft_cleared", "hard_refusal", "limit_changed" or
    "spilled" (a refused request served by the spill target);
    ``budget`` the name of the budget it is about (the refusing one), ``origin`` the one the request was made
    on; bytes after the change."""
    kind: str
    budget: str
    origin: str
    used: int
    peak: int
    hard_limit: int
    soft_limit: int
    request: int


class _State:
    """What a budget's finalizer needs (the Budget object itself must not be referenced by it)."""

    def __init__(self, handle: int, name: str, owned: bool) -> None:
        self.handle = handle
        self.name = name
        self.owned = owned       # False for the root (memgov_close destroys it)
        self.destroyed = False
        self.handlers = 0        # live numpy handler capsules of this budget
        self.callbacks: Dict[int, Any] = {}  # registration id -> (kind, C function object, ...)
        self.next_id = 1


def _cleanup(gstate: Any, s: _State) -> None:
    """The finalizer of a Budget object (also run at interpreter exit): removes its Python callbacks and destroys
    the C budget if it is empty. Never calls into a closed governor; never raises."""
    with gstate.lock:
        if gstate.closed or s.destroyed:
            return
        for reg in list(s.callbacks.values()):
            reg.remove()
        s.callbacks.clear()
        if s.owned and s.handlers == 0 and LIB.memgov_budget_destroy(s.handle) == 0:
            s.destroyed = True


class _Registration:
    """A registered reclaim callback or listener; remove() unregisters it (idempotent)."""

    def __init__(self, state: _State, kind: str, reg_id: int, cfunc: Any, user: int, token: Any,
                 gstate: Any) -> None:
        self._state, self.kind, self.id, self._cfunc, self._user = state, kind, reg_id, cfunc, user
        self._token, self._gstate = token, gstate

    def remove(self) -> None:
        """Unregisters the callback; a no-op if already removed or the budget is gone."""
        with self._gstate.lock:
            if self._state.callbacks.pop(self.id, None) is None:
                return
            if self._gstate.closed or self._state.destroyed:
                return
            if self.kind == "reclaim":
                st = _lib.budget_remove_reclaim(self._state.handle, self._token)
            else:
                st = _lib.budget_remove_listener(self._state.handle, self._token)
            check(st)


class Reservation:
    """Bytes charged with Budget.reserve(); release() (or leaving the ``with`` block) gives them back once."""

    def __init__(self, budget: "Budget", nbytes: int) -> None:
        self.budget = budget
        self.nbytes = nbytes
        self.released = False

    def release(self) -> None:
        """Credits the reserved bytes; idempotent."""
        if not self.released:
            self.budget.release(self.nbytes)
            self.released = True

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class NumpyScope:
    """``with budget.numpy():`` — numpy arrays allocated inside are allocated from the budget. Restores the
    previous handler on exit (scopes nest). One object may be entered by one thread at a time."""

    def __init__(self, budget: "Budget") -> None:
        self._budget = budget
        self._previous: List[Any] = []

    def __enter__(self) -> "Budget":
        from .numpy_support import extension
        ext = extension()
        capsule = self._budget._new_handler(ext)
        self._previous.append(ext.set_handler(capsule))
        return self._budget

    def __exit__(self, *exc: Any) -> None:
        from .numpy_support import extension
        extension().set_handler(self._previous.pop())


class Budget:
    """A node of a governor's budget tree: a hard cap that charges never cross and a soft limit that raises
    events. Made by Governor.budget() (or Governor.root). Thread-safe like the C budget: allocate, reserve and
    read stats from any thread.

    ``with budget:`` destroys the budget on exit when it is empty (no live bytes, no children, no numpy array
    allocated from it alive); otherwise it stays and is destroyed when its Python object goes."""

    def __init__(self, governor: "Governor", handle: int, owned: bool, parent: Optional["Budget"] = None) -> None:
        self._gov = governor
        self._parent = parent  # keeps the parent alive as long as the child
        name = _lib.text(LIB.memgov_budget_name(handle))
        self._s = _State(handle, name, owned)
        self._lock = threading.Lock()
        if owned:
            self._finalizer = weakref.finalize(self, _cleanup, governor._s, self._s)
            governor._s.budgets.append(self._s)

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The budget's name."""
        return self._s.name

    @property
    def governor(self) -> "Governor":
        """The governor the budget belongs to."""
        return self._gov

    @property
    def parent(self) -> Optional["Budget"]:
        """The parent budget (None for the root)."""
        return self._parent

    @property
    def handle(self) -> int:
        """The memgov_budget* address, for passing to C code. Raises StateError after destroy or close."""
        self._check()
        return self._s.handle

    @property
    def closed(self) -> bool:
        """True once destroyed (or its governor closed)."""
        return self._s.destroyed or self._gov._s.closed

    def _check(self) -> int:
        if self._gov._s.closed:
            raise StateError(f"budget '{self._s.name}': its governor is closed")
        if self._s.destroyed:
            raise StateError(f"budget '{self._s.name}' was destroyed")
        return self._s.handle

    def __repr__(self) -> str:
        if self.closed:
            return f"<memgov.Budget '{self.name}' (closed)>"
        st = self.stats()
        lim = format_bytes(st.hard_limit) if st.hard_limit else "no limit"
        return f"<memgov.Budget '{self.name}' used {format_bytes(st.used)} of {lim}>"

    # -- limits and numbers ------------------------------------------------------------------------------------
    def stats(self) -> BudgetStats:
        """A snapshot of the budget's numbers (memgov_budget_stats)."""
        h = self._check()
        out = _lib.BudgetStats.new()
        check(_lib.budget_get_stats(h, ctypes.byref(out)))
        return BudgetStats(**{f.name: (bool(getattr(out, f.name)) if f.name == "own_arena" else
                                       int(getattr(out, f.name))) for f in dataclasses.fields(BudgetStats)})

    @property
    def used(self) -> int:
        """Live bytes now (stats().used)."""
        return self.stats().used

    def set_limits(self, hard: Optional[SizeLike] = None, soft: Optional[SizeLike] = None) -> None:
        """Sets both limits at once (None or 0 = none); a hard limit below the current use is allowed (new
        charges are refused until the use drops). RangeError when soft > hard."""
        h = self._check()
        check(LIB.memgov_budget_set_limits(h, 0 if hard is None else parse_size(hard, "hard limit"),
                                           0 if soft is None else parse_size(soft, "soft limit")))

    def reset_peak(self) -> None:
        """Resets the peak to the bytes charged now."""
        check(LIB.memgov_budget_reset_peak(self._check()))

    # -- memory owned elsewhere --------------------------------------------------------------------------------
    def reserve(self, nbytes: SizeLike) -> Reservation:
        """Charges `nbytes` owned elsewhere (a file buffer, a tensor) to the budget now; BudgetExceededError
        (a MemoryError) when a cap refuses. Returns a Reservation: use it as a context manager or call
        .release()."""
        n = parse_size(nbytes, "reservation")
        check(LIB.memgov_reserve(self._check(), n))
        return Reservation(self, n)

    def release(self, nbytes: SizeLike) -> None:
        """Credits `nbytes` reserved before; RangeError if more than the budget's reserved bytes."""
        check(LIB.memgov_release(self._check(), parse_size(nbytes, "release")))

    # -- raw allocation (for C extensions and tests) -----------------------------------------------------------
    def malloc(self, nbytes: int) -> int:
        """Allocates nbytes from the budget and returns the address (free it with free()). Raises
        BudgetExceededError with memgov's message when refused."""
        p = LIB.memgov_malloc(self._check(), nbytes)
        if not p:
            raise error_for(LIB.memgov_last_status())
        return int(p)

    def usable_size(self, address: int) -> int:
        """The bytes charged for a block of this budget (>= the size asked for): memgov_usable_size. For a numpy
        array allocated in the budget's context: budget.usable_size(array.ctypes.data)."""
        return int(LIB.memgov_usable_size(self._check(), address))

    def free(self, address: int) -> None:
        """Frees a block of this budget returned by malloc()."""
        LIB.memgov_free(self._check(), address)

    # -- callbacks ---------------------------------------------------------------------------------------------
    def _register(self, kind: str, cfunc: Any, add: Callable[[int, Any, int], Any]) -> _Registration:
        g = self._gov._s
        with g.lock:
            h = self._check()
            reg_id = self._s.next_id
            self._s.next_id += 1
            token = add(h, cfunc, reg_id)
            reg = _Registration(self._s, kind, reg_id, cfunc, reg_id, token, g)
            self._s.callbacks[reg_id] = reg
            return reg

    def on_refusal(self, fn: Callable[[int, str], int], priority: int = 0) -> _Registration:
        """Registers a reclaim callback: when this budget or an ancestor refuses a request, fn(needed, refusing)
        runs on the refused thread (needed: bytes the refusing budget lacks, refusing: its name) and returns the
        bytes it freed; higher priority first; then the request is retried once. An exception counts as 0 bytes
        and goes to the callback error hook. Returns a registration with .remove()."""
        name = f"reclaim callback of budget '{self.name}'"

        def call(refusing: Any, needed: int, user: Any) -> int:
            try:
                freed = fn(int(needed), _lib.text(LIB.memgov_budget_name(refusing)))
                return max(0, min(int(freed or 0), (1 << 64) - 1))
            except BaseException as e:  # noqa: BLE001
                report_callback_error(name, e)
                return 0

        cfunc = _lib.RECLAIM_FN(call)
        return self._register("reclaim", cfunc,
                              lambda h, cf, uid: _lib.budget_add_reclaim(h, cf, uid, int(priority)))

    def on_event(self, fn: Callable[[BudgetEvent], None]) -> _Registration:
        """Registers an event listener for this budget and every budget below it: fn(BudgetEvent) runs on the
        thread that caused the event (soft crossings and clearings, hard refusals, limit changes). Exceptions go
        to the callback error hook. Returns a registration with .remove()."""
        name = f"event listener of budget '{self.name}'"

        def call(ev: Any, user: Any) -> None:
            try:
                e = ev.contents
                fn(BudgetEvent(EVENT_KINDS.get(e.kind, str(e.kind)), _lib.text(LIB.memgov_budget_name(e.budget)),
                               _lib.text(LIB.memgov_budget_name(e.origin)), e.used, e.peak, e.hard_limit,
                               e.soft_limit, e.request))
            except BaseException as ex:  # noqa: BLE001
                report_callback_error(name, ex)

        cfunc = _lib.EVENT_FN(call)
        return self._register("listener", cfunc, lambda h, cf, uid: _lib.budget_add_listener(h, cf, uid))

    # -- file-backed budgets and spill (memgov/memmap.h, docs/memmap.md) ---------------------------------------
    @property
    def file_backed(self) -> bool:
        """True when the budget's blocks live in a file (Governor.file_budget, or a child of one)."""
        return bool(LIB.memgov_budget_is_file_backed(self._check()))

    def file_stats(self) -> FileStats:
        """The file's numbers (disk, resident bytes...); InvalidArgumentError if the budget is not file-backed."""
        out = _lib.FileBudgetStats.new()
        check(LIB.memgov_file_budget_get_stats(self._check(), ctypes.byref(out)))
        return FileStats(out.dir.decode(errors="replace"), out.disk_bytes, out.file_size, out.committed_bytes,
                         out.resident_bytes, out.address_space, out.grow_failures)

    def purge(self) -> None:
        """Gives the file's unused pages back to the filesystem now (file-backed budgets)."""
        check(LIB.memgov_file_budget_purge(self._check()))

    def page_out(self) -> None:
        """Drops the file's pages from the process's resident memory now (file-backed budgets): the data stays
        in the file and is read back when touched. Keeps the RSS of an array larger than RAM bounded."""
        check(LIB.memgov_file_budget_page_out(self._check()))

    def set_spill(self, target: Optional["Budget"], min_bytes: Optional[SizeLike] = None) -> None:
        """Names a file-backed budget that serves this budget's refused requests of at least `min_bytes`
        (default: the configuration's memmap.spill_min); None removes it. BusyError while spilled blocks live."""
        h = self._check()
        if min_bytes is None:
            min_bytes = self._gov.config.get("memmap.spill_min")
        n = parse_size(min_bytes, "spill minimum")
        if target is not None and target._gov is not self._gov:
            raise InvalidArgumentError(f"budget '{target.name}' belongs to another governor")
        check(LIB.memgov_budget_set_spill(h, None if target is None else target._check(), n))
        self._spill_target = target  # keeps it alive while named

    def spill_stats(self) -> SpillStats:
        """The budget's spill numbers."""
        out = _lib.SpillStats.new()
        check(LIB.memgov_spill_get_stats(self._check(), ctypes.byref(out)))
        target = _lib.text(LIB.memgov_budget_name(out.target)) if out.target else None
        return SpillStats(target, out.min_bytes, out.spilled, out.spilled_direct, out.live_blocks, out.live_bytes,
                          out.failed)

    # -- numpy -------------------------------------------------------------------------------------------------
    def numpy(self) -> NumpyScope:
        """A context manager: numpy array data allocated inside (this thread or asyncio task) comes from this
        budget. Arrays keep their handler, so freeing them later anywhere credits this budget. Crossing the cap
        raises numpy's MemoryError whose text ends with memgov's refusal (budget, limit, use, request)."""
        self._check()
        return NumpyScope(self)

    def bind(self, fn: F) -> F:
        """fn wrapped so that it runs inside ``with self.numpy():`` (for threads: new threads start with numpy's
        default handler): ``pool.submit(budget.bind(work), x)``."""
        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            with self.numpy():
                return fn(*args, **kw)
        return wrapper  # type: ignore[return-value]

    def install_numpy_handler(self) -> None:
        """Makes this budget numpy's handler in the current context for good (no restore): for a worker
        thread's initializer, e.g. ThreadPoolExecutor(initializer=budget.install_numpy_handler)."""
        from .numpy_support import extension
        ext = extension()
        ext.set_handler(self._new_handler(ext))

    def _new_handler(self, ext: Any) -> Any:
        with self._gov._s.lock:
            h = self._check()
            capsule = ext.handler(h, self._s.name, self)
            self._s.handlers += 1
            return capsule

    def _handler_released(self) -> None:  # called by the capsule's destructor
        with self._gov._s.lock:
            self._s.handlers -= 1

    # -- life cycle --------------------------------------------------------------------------------------------
    def budget(self, name: str, hard: Optional[SizeLike] = None, soft: Optional[SizeLike] = None,
               own_arena: bool = False) -> "Budget":
        """A child budget of this one (Governor.budget with parent=self)."""
        return self._gov.budget(name, hard=hard, soft=soft, own_arena=own_arena, parent=self)

    def destroy(self) -> None:
        """Destroys the budget. BusyError while it has live bytes, children, or numpy arrays or contexts using
        it (the message says which); InvalidArgumentError for the root. Idempotent."""
        g = self._gov._s
        with g.lock:
            if self._s.destroyed:
                return
            h = self._check()
            if not self._s.owned:
                raise InvalidArgumentError(f"budget '{self.name}' is the governor's root: close the governor")
            if self._s.handlers:
                raise BusyError(f"cannot destroy budget '{self.name}': numpy still uses it as the handler of "
                                f"{self._s.handlers} array allocation context(s) (arrays allocated in its numpy "
                                "context are alive, or the context is entered)")
            check(LIB.memgov_budget_destroy(h))
            self._s.destroyed = True
            self._s.callbacks.clear()

    def __enter__(self) -> "Budget":
        self._check()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.closed or not self._s.owned:
            return
        try:
            self.destroy()
        except BusyError:
            pass  # still in use (arrays alive): destroyed when the Budget object goes
