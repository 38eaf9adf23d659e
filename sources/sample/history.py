"""History periods [dateDebut, dateFin) built from dated events, in bulk.

An entity (unit or establishment) starts a period at its creation and at each event date; an attribute's value in
a period is read from the events that happened before the period's start. The last period of an entity is its
current state, so the history always agrees with the current stock.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NAT = np.datetime64("NaT", "D")


def build_periods(created: np.ndarray, events: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Periods of every entity, sorted by entity then start.

    created: datetime64[D] per entity; events: name -> datetime64[D] per entity (NaT = no such event). Event dates
    not strictly after creation are ignored. Returns entity, start, end (NaT for the current period), first, last.
    """
    n = created.size
    ent = [np.arange(n)]
    dates = [created]
    for d in events.values():
        ok = ~np.isnat(d) & (d > created)
        ent.append(np.flatnonzero(ok))
        dates.append(d[ok])
    ent_all = np.concatenate(ent)
    dates_all = np.concatenate(dates).astype("datetime64[D]")
    order = np.lexsort((dates_all, ent_all))
    ent_all, dates_all = ent_all[order], dates_all[order]
    keep = np.r_[True, (ent_all[1:] != ent_all[:-1]) | (dates_all[1:] != dates_all[:-1])]
    ent_all, dates_all = ent_all[keep], dates_all[keep]
    last = np.r_[ent_all[1:] != ent_all[:-1], True]
    first = np.r_[True, ent_all[1:] != ent_all[:-1]]
    end = np.where(last, NAT, np.r_[dates_all[1:], NAT])
    return {"entity": ent_all, "start": dates_all, "end": end.astype("datetime64[D]"), "first": first,
            "last": last}


def before(periods: dict[str, np.ndarray], event: np.ndarray) -> np.ndarray:
    """True for periods that start before the entity's event (False when the entity has no such event)."""
    d = event[periods["entity"]]
    return ~np.isnat(d) & (periods["start"] < d)


def after(periods: dict[str, np.ndarray], event: np.ndarray) -> np.ndarray:
    """True for periods that start on or after the entity's event (False when it has no such event)."""
    d = event[periods["entity"]]
    return ~np.isnat(d) & (periods["start"] >= d)


def changed(periods: dict[str, np.ndarray], values: np.ndarray) -> np.ndarray:
    """SIRENE's changement* flag: the value differs from the previous period of the same entity (False first)."""
    v = np.where(pd.isna(values), "\x00", values).astype(str)
    diff = np.r_[False, v[1:] != v[:-1]]
    return diff & ~periods["first"]
