"""Choropleth maps of a département from the committed commune contours (data/reference/contours_communes_*.parquet,
built by reports/build_contours.py), drawn with matplotlib PolyCollection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.colors import BoundaryNorm, ListedColormap

from ess import paths
from reports import style


def contours_file(annee_cog=None) -> Path | None:
    """contours_communes_<COG year>.parquet, else the latest one, else None (no maps)."""
    folder = paths.REFERENCE_DIR
    if annee_cog and (folder / f"contours_communes_{annee_cog}.parquet").exists():
        return folder / f"contours_communes_{annee_cog}.parquet"
    files = sorted(folder.glob("contours_communes_[0-9][0-9][0-9][0-9].parquet"))
    return files[-1] if files else None


def load_contours(path: Path, communes: list[str]) -> dict[str, list[np.ndarray]]:
    """code_commune -> rings (n × 2 arrays of longitude, latitude) for the given communes."""
    table = pq.read_table(path, filters=[("code_commune", "in", sorted(set(communes)))])
    scale = float((table.schema.metadata or {}).get(b"ess:echelle", b"100000"))
    out: dict[str, list[np.ndarray]] = {}
    for code, xs, ys in zip(table["code_commune"].to_pylist(), table["x"].to_pylist(), table["y"].to_pylist()):
        ring = np.column_stack([np.cumsum(xs), np.cumsum(ys)]) / scale  # delta-encoded integers
        out.setdefault(code, []).append(ring)
    return out


NO_DATA = {"facecolor": "white", "edgecolor": "#8a8a8a", "hatch": "...."}  # dotted white: never a light class
MASKED = {"facecolor": "#d9d9d9", "edgecolor": "#7a7a7a", "hatch": "/////"}


def _palette(cmap: str) -> ListedColormap:
    """The colour map without its near-white end, so the lightest class cannot be taken for « aucune donnée »."""
    return ListedColormap(colormaps[cmap](np.linspace(0.25, 1.0, 256)))


def place_names(rings: dict[str, list[np.ndarray]], communes: pd.DataFrame, count: int = 6) -> list[tuple]:
    """(name, x, y) of the `count` most populated communes, at the mean point of their largest ring, skipping a
    commune closer than `spacing` (share of the map's extent) to one already named: labels of a city's suburbs
    would hide the city's."""
    if communes.empty or "population" not in communes.columns or not rings:
        return []
    ranked = communes.dropna(subset=["population", "nom_commune"]).sort_values(
        ["population", "code_commune"], ascending=[False, True])
    every = np.vstack([r for rs in rings.values() for r in rs])
    spacing = 0.12 * float(np.ptp(every, axis=0).max())
    out = []
    for row in ranked.itertuples():
        if row.code_commune not in rings:
            continue
        ring = max(rings[row.code_commune], key=len)
        x, y = float(ring[:, 0].mean()), float(ring[:, 1].mean())
        if all(math.hypot(x - px, y - py) >= spacing for _, px, py in out):
            out.append((style.display_label(row.nom_commune), x, y))
        if len(out) == count:
            break
    return out


def choropleth(ax, rings: dict[str, list[np.ndarray]], values: pd.DataFrame, *, title: str, fmt,
               legend_title: str, classes: int = 5, cmap: str = "Greens", places: list[tuple] = ()) -> pd.DataFrame:
    """Colour each commune by `values` (columns code_commune, valeur, statut). Suppressed communes are hatched
    grey, communes without a value dotted white; classes are quantiles of the published values; `places` names
    the main communes. Returns the drawn data (code_commune, valeur, statut, classe, trace)."""
    values = values.set_index("code_commune")
    shown = values["valeur"].notna() & values["statut"].isna()
    published = values.loc[shown, "valeur"].to_numpy(dtype=float)
    bounds = np.unique(np.quantile(published, np.linspace(0, 1, classes + 1))) if len(published) else np.array([])
    if len(bounds) < 2:  # one distinct value (or none): a single class from 0
        top = float(published.max()) if len(published) else 0.0
        bounds = np.array([0.0, top if top > 0 else 1.0])
    palette = _palette(cmap)
    norm = BoundaryNorm(bounds, palette.N)
    polys, faces, hatched = [], [], []
    rows = []
    for code in sorted(values.index):
        status = values.at[code, "statut"]
        value = values.at[code, "valeur"]
        status = status if isinstance(status, str) else None
        trace = "couleur" if status is None and np.isfinite(value) else ("masque" if status else "non_disponible")
        for ring in rings.get(code, []):
            if trace == "couleur":
                polys.append(ring)
                faces.append(palette(norm(value)))
            else:
                hatched.append((ring, trace))
        rows.append({"code_commune": code, "valeur": value if trace == "couleur" else np.nan, "statut": status,
                     "trace": trace if code in rings else "sans_contour"})
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="white", linewidths=0.15))
    masked = [r for r, t in hatched if t == "masque"]
    empty = [r for r, t in hatched if t != "masque"]
    ax.add_collection(PolyCollection(masked, facecolors=MASKED["facecolor"], edgecolors=MASKED["edgecolor"],
                                     linewidths=0.15, hatch=MASKED["hatch"]))
    ax.add_collection(PolyCollection(empty, facecolors=NO_DATA["facecolor"], edgecolors=NO_DATA["edgecolor"],
                                     linewidths=0.15, hatch=NO_DATA["hatch"]))
    every = [r for rs in rings.values() for r in rs]
    if every:
        xy = np.vstack(every)
        ax.set_xlim(xy[:, 0].min(), xy[:, 0].max())
        ax.set_ylim(xy[:, 1].min(), xy[:, 1].max())
        ax.set_aspect(1 / math.cos(math.radians(float(xy[:, 1].mean()))))  # equirectangular, true at mid-latitude
    ax.set_axis_off()
    _name_places(ax, places)
    style.title(ax, title)
    handles, texts = _legend(bounds, palette, norm, fmt)
    from matplotlib.patches import Patch

    # (only what the map shows: a map of counts, never masked, has no « s » to explain)
    for shown, patch, text in ((masked, MASKED, f"«{style.NBSP}{style.SUPPRESSED}{style.NBSP}» secret statistique"),
                               (empty, NO_DATA, "pas de donnée")):
        if shown:
            handles.append(Patch(**patch))
            texts.append(text)
    ax.legend(handles, texts, title=legend_title, fontsize=8, title_fontsize=8, frameon=False,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return pd.DataFrame(rows, columns=["code_commune", "valeur", "statut", "trace"])


PLACE_SIZE = 8.0  # points
PLACE_PAD = 0.15  # the label's box around its text, in font sizes (boxstyle round,pad)
# where a name may go around its point (offset points, alignment), in order of preference: up-right first, then the
# other corners, then further up or down
PLACE_SPOTS = [((3, 3), "left", "bottom"), ((3, -3), "left", "top"), ((-3, 3), "right", "bottom"),
               ((-3, -3), "right", "top")] + [((3, dy), "left", "bottom") for dy in (14, -24, 25, -35, 36, -46)]


def _name_places(ax, places) -> None:
    """A dot and the name of each place; a name goes to the first spot around its point (PLACE_SPOTS) where its box
    meets no name already written (the most populated first): two close towns' names never overlap. Boxes are
    measured in points from the font, on the axes as the drawing will place them (aspect applied)."""
    ax.apply_aspect()
    pad = PLACE_PAD * PLACE_SIZE
    taken: list[tuple[float, float, float, float]] = []
    to_points = ax.transData + ax.figure.dpi_scale_trans.inverted()  # data → inches from the figure's corner
    for name, x, y in places:
        px, py = (72 * v for v in to_points.transform((x, y)))
        width, height = style.text_width(name, PLACE_SIZE), PLACE_SIZE * 1.2
        chosen = None
        for (dx, dy), ha, va in PLACE_SPOTS:
            x0 = px + dx - (width if ha == "right" else 0) - pad
            y0 = py + dy - (height if va == "top" else 0) - pad
            box = (x0, y0, x0 + width + 2 * pad, y0 + height + 2 * pad)
            if not any(_overlap(box, other) for other in taken):
                chosen = ((dx, dy), ha, va, box)
                break
        if chosen is None:  # crowded everywhere: the first spot, as before
            (dx, dy), ha, va = PLACE_SPOTS[0]
            chosen = ((dx, dy), ha, va, (px + dx - pad, py + dy - pad, px + dx + width + pad, py + dy + height + pad))
        (dx, dy), ha, va, box = chosen
        taken.append(box)
        ax.plot([x], [y], marker="o", markersize=2.5, color="#222222")
        ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=PLACE_SIZE, color="#111111",
                    ha=ha, va=va, gid="place_name",
                    bbox={"boxstyle": f"round,pad={PLACE_PAD}", "facecolor": "white", "edgecolor": "none",
                          "alpha": 0.75})


def _overlap(a, b, gap: float = 1.0) -> bool:
    """Do two boxes (x0, y0, x1, y1) come closer than `gap` points?"""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _legend(bounds, palette, norm, fmt):
    from matplotlib.patches import Patch

    handles, texts = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        handles.append(Patch(facecolor=palette(norm((lo + hi) / 2)), edgecolor="none"))
        texts.append(f"{fmt(lo)} – {fmt(hi)}")
    return handles, texts
