"""Chunked reading of CSV files with record-aligned byte ranges (memgov/chunk.h): read_csv_chunks()."""
from __future__ import annotations

import ctypes
import io
import os
from typing import Any, Iterator, Optional, Tuple

from . import _lib
from ._lib import LIB
from .errors import check

#: Copies of a chunk that parsing holds at once (the bytes, pandas' parsed columns, the frame): the planner's
#: working-set factor for read_csv_chunks.
CSV_WORKING_SET = 3.0
_SAMPLE = 1 << 20
_BUFFER_MIN, _BUFFER_MAX = 64 << 10, 8 << 20
_ENOTFOUND = 5


def _row_bytes(fd: int, header: int, size: int) -> int:
    """Average bytes per line in the first MiB after the header (at least 1)."""
    sample = os.pread(fd, min(_SAMPLE, max(0, size - header)), header)
    return max(1, len(sample) // max(1, sample.count(b"\n")))


def _plan_rows(row_bytes: int, budget: Any, total_rows: int) -> Tuple[int, int]:
    """Rows per chunk from the chunk planner, and the memory it planned with: the budget's headroom (the default
    governor's root when None)."""
    if budget is None:
        from .governor import default
        budget = default().root
    opts = _lib.ChunkPlanOptions.new()
    LIB.memgov_chunk_plan_options_init(ctypes.byref(opts))
    opts.item_bytes = row_bytes
    opts.working_set = CSV_WORKING_SET
    opts.total_items = total_rows
    opts.budget = budget.handle
    plan = _lib.ChunkPlan.new()
    check(LIB.memgov_chunk_plan_compute(ctypes.byref(opts), ctypes.byref(plan)))
    return int(plan.items), int(plan.memory_bytes)


def _one_char(name: str, value: Any) -> bytes:
    if not isinstance(value, str) or len(value.encode("latin-1", "replace")) != 1:
        raise ValueError(f"read_csv_chunks: {name} must be one character (the chunker splits on it), got {value!r}")
    return value.encode("latin-1")


def read_csv_chunks(path: str, budget: Any = None, rows: Optional[int] = None,
                    **pandas_kwargs: Any) -> Iterator[Any]:
    """Yields pandas DataFrames of a CSV file, chunk by chunk, each parsed by ``pandas.read_csv(**pandas_kwargs)``
    from a byte range that the C chunker cut on record boundaries (quoted newlines and doubled quotes respected,
    RFC 4180), with the header row prepended, so that ``pandas.concat(list(...))`` equals
    ``pandas.read_csv(path, **pandas_kwargs)``.

    rows: about this many rows per chunk (the byte target is rows x the average line length of the first MiB);
    None: the chunk planner decides from ``budget``'s headroom (a memgov.Budget; None: the default governor's
    root) with a working-set factor of 3 (bytes, parsed columns, frame), in the governor's current mode.
    The chunker's read buffer (8 MiB; an eighth of the planned memory, at least 64 KiB, with a budget) comes
    from ``budget`` when one is given.

    pandas_kwargs: passed to pandas.read_csv for every chunk; ``sep``/``delimiter`` and ``quotechar`` must be
    one character (they also drive the chunker), ``header=None`` means the file has no header row.
    Raises memgov.ParseError for a quote never closed (byte offset and line in the message), MemgovIOError when
    the file changes size while being read, FileNotFoundError-like memgov.NotFoundError for a missing file."""
    import pandas

    sep = pandas_kwargs.get("sep", pandas_kwargs.get("delimiter", ","))
    quote = pandas_kwargs.get("quotechar", '"')
    has_header = pandas_kwargs.get("header", "infer") is not None
    if rows is not None and rows < 1:
        raise ValueError(f"read_csv_chunks: rows must be >= 1, got {rows}")
    opts = _lib.CsvOptions.new()
    LIB.memgov_csv_options_init(ctypes.byref(opts))
    opts.has_header = 1 if has_header else 0
    opts.delimiter = _one_char("sep", sep)
    opts.quote = _one_char("quotechar", quote)
    if budget is not None:
        opts.budget = budget.handle
    handle = ctypes.c_void_p()
    size = os.path.getsize(path) if os.path.exists(path) else 0
    fd = os.open(path, os.O_RDONLY) if os.path.exists(path) else -1
    try:
        header = b""
        if fd >= 0:
            row_bytes = _row_bytes(fd, 0, size)
            total = size // row_bytes + 1
            memory = 0
            if rows is None:
                rows, memory = _plan_rows(row_bytes, budget, total)
            opts.target_bytes = max(1, rows * row_bytes)
            if budget is not None:  # the read buffer comes from the budget too: an eighth of what was planned
                memory = memory or budget.stats().hard_limit or _BUFFER_MAX * 8
                opts.buffer_bytes = max(_BUFFER_MIN, min(_BUFFER_MAX, memory // 8))
        check(LIB.memgov_csv_open(os.fsencode(path), ctypes.byref(opts), ctypes.byref(handle)))
        try:
            hlen = ctypes.c_uint64()
            check(LIB.memgov_csv_header(handle, ctypes.byref(hlen)))
            header = os.pread(fd, hlen.value, 0) if hlen.value else b""
            chunk = _lib.CsvChunk.new()
            while True:
                st = LIB.memgov_csv_next(handle, ctypes.byref(chunk))
                if st == _ENOTFOUND:
                    return
                check(st)
                data = os.pread(fd, chunk.length, chunk.offset)
                yield pandas.read_csv(io.BytesIO(header + data), **pandas_kwargs)
        finally:
            LIB.memgov_csv_close(handle)
    finally:
        if fd >= 0:
            os.close(fd)
