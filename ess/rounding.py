"""How an estimated headcount is rounded wherever people read it (the run's console summary, the PDF report): to
what an estimate can claim. Counts of establishments are exact and never rounded; tables for programs (Parquet,
chart data) keep full precision."""

from __future__ import annotations


def round_estimate(value: float) -> int:
    """An estimated headcount rounded to tens below 1 000 and to hundreds above (38 152 -> 38 200, 253 -> 250);
    below 10, to the unit (a rounded 0 would read as « none »)."""
    step = 1 if abs(value) < 10 else (10 if abs(value) < 1000 else 100)
    return int(round(value / step) * step)
