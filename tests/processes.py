"""Helpers of the tests that watch processes (Linux /proc)."""

from __future__ import annotations


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (dead, not yet reaped by init: gone for the tests)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
