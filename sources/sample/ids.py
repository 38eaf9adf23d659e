"""SIREN / SIRET numbers that pass the Luhn check, as INSEE's do, generated in bulk with numpy."""

from __future__ import annotations

import numpy as np


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) matrix of the decimal digits of non-negative integers, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def luhn_check_digit(payload: np.ndarray, width: int) -> np.ndarray:
    """The digit to append to each `width`-digit payload so that the whole number passes the Luhn check."""
    d = _digits(np.asarray(payload, dtype=np.int64), width)
    # The check digit takes the rightmost place, so the payload's rightmost digit is the one doubled.
    doubled = (np.arange(width)[::-1] % 2) == 0
    dd = np.where(doubled, d * 2, d)
    dd = np.where(dd > 9, dd - 9, dd)
    return (10 - dd.sum(axis=1) % 10) % 10


def luhn_valid(numbers: np.ndarray, width: int) -> np.ndarray:
    d = _digits(np.asarray(numbers, dtype=np.int64), width)
    doubled = (np.arange(width)[::-1] % 2) == 1
    dd = np.where(doubled, d * 2, d)
    dd = np.where(dd > 9, dd - 9, dd)
    return dd.sum(axis=1) % 10 == 0


def random_sirens(rng: np.random.Generator, n: int, *, leading_zero_share: float = 0.02,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """n distinct Luhn-valid SIRENs as int64, in random order.

    First digits avoid 1 and 2 (INSEE gives them to natural persons of old registers and to public bodies, whose
    numbers the generator builds on purpose); a small share starts with 0, which integer typing would lose.
    """
    taken = set() if exclude is None else set(int(x) for x in np.asarray(exclude))
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        k = int((n - have) * 1.1) + 16
        first = rng.choice(np.array([3, 4, 5, 7, 8, 9]), size=k)
        first = np.where(rng.random(k) < leading_zero_share, 0, first)
        payload = first * 10_000_000 + rng.integers(0, 10_000_000, size=k)
        sirens = payload * 10 + luhn_check_digit(payload, 8)
        out.append(sirens)
        allv = np.concatenate(out)
        _, first_idx = np.unique(allv, return_index=True)
        keep = np.zeros(allv.size, bool)
        keep[first_idx] = True
        if taken:
            keep &= ~np.isin(allv, np.fromiter(taken, np.int64))
        allv = allv[np.sort(np.flatnonzero(keep))]
        out = [allv]
        have = allv.size
    return out[0][:n]


def nics_for(siren: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """NIC = 4-digit sequence number + a digit making the 14-digit SIRET Luhn-valid (as INSEE numbers them)."""
    payload = np.asarray(siren, np.int64) * 10_000 + np.asarray(sequence, np.int64)
    check = luhn_check_digit(payload, 13)
    return np.asarray(sequence, np.int64) * 10 + check


def public_siren(prefix: int, number: int, prefix_width: int) -> int:
    """Build a public body's SIREN from its registry prefix (e.g. 21 + département + commune) and check digit."""
    payload = prefix * 10 ** (8 - prefix_width) + number
    return int(payload * 10 + luhn_check_digit(np.array([payload]), 8)[0])


def as_text(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded text, the way SIRENE writes codes."""
    return np.strings.zfill(np.asarray(values, np.int64).astype(str), width)
