"""A minimal reader of (E)WKB polygons and multipolygons, as hex text, into numpy rings.

Only what commune contours need: Polygon (3) and MultiPolygon (6), 2-D, either byte order, with or without the
EWKB SRID flag. Other geometry types raise ValueError, so that an unexpected file is noticed, not misdrawn.
"""

from __future__ import annotations

import struct

import numpy as np

_SRID_FLAG = 0x20000000
_Z_FLAG = 0x80000000
_M_FLAG = 0x40000000
POLYGON, MULTIPOLYGON = 3, 6


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def header(self) -> tuple[str, int]:
        order = "<" if self.data[self.pos] == 1 else ">"
        (gtype,) = struct.unpack_from(order + "I", self.data, self.pos + 1)
        self.pos += 5
        if gtype & (_Z_FLAG | _M_FLAG):
            raise ValueError("3-D or measured geometries are not supported")
        if gtype & _SRID_FLAG:
            self.pos += 4  # the SRID itself: the caller knows the coordinate system
        return order, gtype & 0xFFFF

    def uint(self, order: str) -> int:
        (value,) = struct.unpack_from(order + "I", self.data, self.pos)
        self.pos += 4
        return value

    def ring(self, order: str) -> np.ndarray:
        n = self.uint(order)
        points = np.frombuffer(self.data, dtype=np.dtype(order + "f8"), count=2 * n, offset=self.pos)
        self.pos += 16 * n
        return points.reshape(n, 2).astype(float)

    def polygon(self, order: str) -> list[np.ndarray]:
        return [self.ring(order) for _ in range(self.uint(order))]


def parse_polygons(hex_text: str) -> list[list[np.ndarray]]:
    """The polygons of a WKB/EWKB hex string: a list of polygons, each a list of rings (outer first) of shape
    (n, 2) as (x, y)."""
    reader = _Reader(bytes.fromhex(hex_text))
    order, gtype = reader.header()
    if gtype == POLYGON:
        return [reader.polygon(order)]
    if gtype != MULTIPOLYGON:
        raise ValueError(f"geometry type {gtype} is neither a polygon (3) nor a multipolygon (6)")
    polygons = []
    for _ in range(reader.uint(order)):
        inner_order, inner_type = reader.header()
        if inner_type != POLYGON:
            raise ValueError(f"multipolygon member of type {inner_type}, expected a polygon (3)")
        polygons.append(reader.polygon(inner_order))
    return polygons
