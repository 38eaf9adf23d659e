"""Douglas–Peucker simplification of a ring, in numpy (no shapely)."""

from __future__ import annotations

import numpy as np


def douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Keep the points of an open or closed line whose removal would move it by more than `tolerance`.

    Iterative (an explicit stack), so long coastlines do not hit the recursion limit. The first and last points
    are always kept: for a closed ring (first == last) the split point is the farthest from the first point.
    """
    n = len(points)
    if n <= 2:
        return points.copy()
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        start, end = stack.pop()
        if end - start < 2:
            continue
        segment = points[start + 1:end]
        a, b = points[start], points[end]
        d = b - a
        length = np.hypot(d[0], d[1])
        if length == 0.0:  # closed ring: distance to the point itself
            dist = np.hypot(segment[:, 0] - a[0], segment[:, 1] - a[1])
        else:
            dist = np.abs(d[0] * (segment[:, 1] - a[1]) - d[1] * (segment[:, 0] - a[0])) / length
        i = int(np.argmax(dist))
        if dist[i] > tolerance:
            mid = start + 1 + i
            keep[mid] = True
            stack.append((start, mid))
            stack.append((mid, end))
    return points[keep]
