"""Tables for readers: no pandas index, percentages as percentages, milliseconds rounded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


def show_table(
    frame: pd.DataFrame,
    *,
    percent: Iterable[str] = (),
    ms: Iterable[str] = (),
    decimals: Iterable[str] = (),
) -> Any:
    """A pandas Styler of ``frame`` without its index: ``percent`` columns as 12.3%, ``ms``
    columns as 1,234 ms-style numbers, ``decimals`` with two places, integers with separators.

    >>> show_table(summary, percent=["error_rate"], ms=["p95_ms"])  # doctest: +SKIP
    """
    formats: dict[str, Any] = {}
    for column in frame.columns:
        if pd.api.types.is_integer_dtype(frame[column]):
            formats[column] = "{:,}"
    formats.update({column: "{:.1%}" for column in percent})
    formats.update({column: "{:,.1f}" for column in ms})
    formats.update({column: "{:,.2f}" for column in decimals})
    formats = {k: v for k, v in formats.items() if k in frame.columns}
    return frame.style.hide(axis="index").format(formats, na_rep="–")
