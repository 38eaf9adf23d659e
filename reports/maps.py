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
from matplotlib.colors import BoundaryNorm

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


def choropleth(ax, rings: dict[str, list[np.ndarray]], values: pd.DataFrame, *, title: str, fmt,
               legend_title: str, classes: int = 5, cmap: str = "Greens") -> pd.DataFrame:
    """Colour each commune by `values` (columns code_commune, valeur, statut). Suppressed communes are hatched
    grey, communes without a value light grey; classes are quantiles of the published values.
    Returns the drawn data (code_commune, valeur, statut, classe, trace)."""
    values = values.set_index("code_commune")
    shown = values["valeur"].notna() & values["statut"].isna()
    published = values.loc[shown, "valeur"].to_numpy(dtype=float)
    bounds = np.unique(np.quantile(published, np.linspace(0, 1, classes + 1))) if len(published) else np.array([])
    if len(bounds) < 2:  # one distinct value (or none): a single class from 0
        top = float(published.max()) if len(published) else 0.0
        bounds = np.array([0.0, top if top > 0 else 1.0])
    norm = BoundaryNorm(bounds, colormaps[cmap].N)
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
                faces.append(colormaps[cmap](norm(value)))
            else:
                hatched.append((ring, trace))
        rows.append({"code_commune": code, "valeur": value if trace == "couleur" else np.nan, "statut": status,
                     "trace": trace if code in rings else "sans_contour"})
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="white", linewidths=0.15))
    masked = [r for r, t in hatched if t == "masque"]
    empty = [r for r, t in hatched if t != "masque"]
    ax.add_collection(PolyCollection(masked, facecolors="#e6e6e6", edgecolors="#9a9a9a", linewidths=0.15,
                                     hatch="/////"))
    ax.add_collection(PolyCollection(empty, facecolors="#f4f4f4", edgecolors="#cfcfcf", linewidths=0.15))
    every = [r for rs in rings.values() for r in rs]
    if every:
        xy = np.vstack(every)
        ax.set_xlim(xy[:, 0].min(), xy[:, 0].max())
        ax.set_ylim(xy[:, 1].min(), xy[:, 1].max())
        ax.set_aspect(1 / math.cos(math.radians(float(xy[:, 1].mean()))))  # equirectangular, true at mid-latitude
    ax.set_axis_off()
    style.title(ax, title)
    handles, texts = _legend(bounds, cmap, norm, fmt)
    from matplotlib.patches import Patch

    handles += [Patch(facecolor="#e6e6e6", edgecolor="#9a9a9a", hatch="/////"), Patch(facecolor="#f4f4f4",
                                                                                      edgecolor="#cfcfcf")]
    texts += [f"« {style.SUPPRESSED} » secret statistique", "aucune donnée"]
    ax.legend(handles, texts, title=legend_title, fontsize=6.5, title_fontsize=7, frameon=False,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return pd.DataFrame(rows, columns=["code_commune", "valeur", "statut", "trace"])


def _legend(bounds, cmap, norm, fmt):
    from matplotlib.patches import Patch

    handles, texts = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        handles.append(Patch(facecolor=colormaps[cmap](norm((lo + hi) / 2)), edgecolor="none"))
        texts.append(f"{fmt(lo)} – {fmt(hi)}")
    return handles, texts
