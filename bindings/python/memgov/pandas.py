"""memgov.pandas — pandas helpers over memgov's kernels (docs/kernels.md).

``downcast(df)`` is the replacement for the hand-written ``optimize_dtypes()`` helpers pipelines carry: every
numeric column in the narrowest dtype that holds its values, in one pass per column, with a report of what changed.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

import numpy as np
import pandas as pd

from . import kernels


def downcast(df: "pd.DataFrame", *, columns: Optional[Iterable[Any]] = None, inplace: bool = False,
             float_tolerance: Optional[float] = None, abs_tolerance: Optional[float] = None,
             unsigned: bool = False, float_to_int: bool = False,
             keep_float64: bool = False) -> Tuple["pd.DataFrame", "pd.DataFrame"]:
    """(frame, report): ``df`` with its numeric columns (numpy int, uint, float and bool dtypes; or only
    ``columns``) downcast by memgov.kernels.downcast() under the options it documents, and a report frame with one
    row per column considered: column, from, to, bytes_saved. Other columns (object, category, datetime, pandas'
    nullable extension dtypes) are left as they are and not reported.

    inplace=False returns a new frame (a shallow copy: unchanged columns share their data with ``df``) and leaves
    ``df`` untouched; inplace=True replaces the columns of ``df`` itself and returns it. Each column's new array is
    made before the old one is released, so the peak is the frame plus one downcast column.
    """
    out = df if inplace else df.copy(deep=False)
    names = list(out.columns) if columns is None else list(columns)
    rows = []
    for name in names:
        col = out[name]
        if isinstance(col, pd.DataFrame):
            raise ValueError(f"memgov.pandas.downcast: column label {name!r} is not unique")
        if not isinstance(col.dtype, np.dtype) or col.dtype.name not in kernels._lib.DTYPES:
            continue
        arr, rep = kernels.downcast_with_report(col.to_numpy(), float_tolerance=float_tolerance,
                                                abs_tolerance=abs_tolerance, unsigned=unsigned,
                                                float_to_int=float_to_int, keep_float64=keep_float64)
        if rep.to_dtype != rep.from_dtype:
            out[name] = pd.Series(arr, index=out.index, name=col.name, copy=False)
        rows.append({"column": name, "from": str(rep.from_dtype), "to": str(rep.to_dtype),
                     "bytes_saved": int(rep.bytes_saved)})
    report = pd.DataFrame(rows, columns=["column", "from", "to", "bytes_saved"])
    return out, report


__all__ = ["downcast"]
