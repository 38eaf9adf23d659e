"""The report's chart types. Each draws on a given Axes and returns the data it drew (one row per bar or point,
with how it was drawn), which build_report saves next to the PNG: readers can check a chart against its figures,
and tests can check that a suppressed value was drawn as suppressed, not as 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import transforms

from reports import style

BAR = "barre"
MASKED = "masque"
UNAVAILABLE = "non_disponible"


def _wrap(text: str, width: int = 38) -> str:
    return "\n".join(style.wrap(str(text), width)) or str(text)


TICK_SIZE = 8.0  # points: the categories' labels of a bar chart
BAR_HEIGHT = 0.7  # of a one-line row
EXTRA_LINE = 0.8  # rows added to a row per extra line of its label: ≥ a line's height (1.2 × 8 pt) over a row's


def label_room(ax, size: float = TICK_SIZE) -> float:
    """Points left of the axes for its category labels: from the page's left margin (0.02 of the figure, where the
    titles start) to the tick, less the tick and its padding."""
    import matplotlib

    fig_width = ax.figure.get_figwidth() * 72
    tick = matplotlib.rcParams["ytick.major.size"] + matplotlib.rcParams["ytick.major.pad"]
    return (ax.get_position().x0 - 0.02) * fig_width - tick - 2


def row_positions(lines: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The centre and height (data units, first row at 0) of each row of a bar chart whose labels take `lines`
    lines: a label wrapped on two lines gets a taller row, so it cannot run into its neighbours'."""
    heights = np.array([1.0 + EXTRA_LINE * (k - 1) for k in lines])
    if not len(heights):
        return np.array([]), heights
    tops = np.concatenate([[0.0], np.cumsum(heights)[:-1]])
    return tops + heights / 2 - 0.5, heights


def hbar(ax, data: pd.DataFrame, *, title: str, fmt, xlabel: str = "", color: str = style.COLORS["ess"],
         with_range: bool = False, tick_fmt=None) -> pd.DataFrame:
    """Horizontal bars, one per row of `data` (columns of selection.series), top to bottom in the given order;
    `fmt` writes each bar's value, `tick_fmt` (default `fmt`) the axis' ticks (an estimate's rounding is not for them).

    A suppressed value gets a light hatched band across the axis and the label « s (reason) » — no bar length,
    so it cannot be read as a value; an unavailable one gets « n.d. »."""
    data = data.reset_index(drop=True).copy()
    n = len(data)
    labels = [style.fit_label(t, label_room(ax, TICK_SIZE), TICK_SIZE) for t in data["etiquette"]]
    y, heights = row_positions([t.count("\n") + 1 for t in labels])
    shown = data["disponible"].to_numpy(dtype=bool)
    values = data["valeur"].to_numpy(dtype=float)
    tops = values.copy()
    if with_range:
        tops = np.fmax(tops, data["haut"].to_numpy(dtype=float))
    xmax = float(np.nanmax(tops[shown])) if shown.any() and np.nanmax(tops[shown]) > 0 else 1.0
    xmax *= 1.22  # room for the value labels
    drawn = np.full(n, np.nan)
    how = []
    for i in range(n):
        if shown[i]:
            ax.barh(y[i], values[i], color=color, height=BAR_HEIGHT, gid=f"barre_{i}")
            drawn[i] = values[i]
            if with_range and np.isfinite(data.at[i, "bas"]) and np.isfinite(data.at[i, "haut"]):
                ax.plot([data.at[i, "bas"], data.at[i, "haut"]], [y[i], y[i]], color=style.COLORS["range"],
                        linewidth=1.2, solid_capstyle="butt")
                ax.plot([data.at[i, "bas"]] * 2 + [np.nan] + [data.at[i, "haut"]] * 2,
                        [y[i] - 0.15, y[i] + 0.15, np.nan, y[i] - 0.15, y[i] + 0.15],
                        color=style.COLORS["range"], linewidth=1.2)
            end = data.at[i, "haut"] if with_range and np.isfinite(data.at[i, "haut"]) else values[i]
            ax.text(end + xmax * 0.02, y[i], fmt(values[i]), va="center", fontsize=8)
            how.append(BAR)
        elif data.at[i, "statut"] is not None:
            ax.barh(y[i], xmax, left=0, height=BAR_HEIGHT, facecolor="none", edgecolor=style.COLORS["suppressed"],
                    hatch="////", linewidth=0, alpha=0.5, gid=f"masque_{i}")
            ax.text(xmax * 0.01, y[i], style.fmt_secret(data.at[i, "statut"]), va="center", fontsize=8,
                    color="#333333", bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
            how.append(MASKED)
        else:
            ax.text(xmax * 0.01, y[i], style.UNAVAILABLE, va="center", fontsize=8, color="#333333")
            how.append(UNAVAILABLE)
    ax.set_yticks(y, labels, fontsize=TICK_SIZE)
    ax.set_ylim(float(y[-1] + heights[-1] / 2) if n else 0.5, -0.5)
    ax.set_xlim(0, xmax)
    style.title(ax, title)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_formatter(lambda v, _pos: (tick_fmt or fmt)(v) if v >= 0 else "")
    if n == 0:
        ax.text(0.5, 0.5, "Aucune donnée", transform=ax.transAxes, ha="center")
    data["trace"] = how
    data["longueur_dessinee"] = drawn
    return data


def lines(ax, frame: pd.DataFrame, statuses: pd.DataFrame | None, *, title: str, fmt, ylabel: str = "",
          colors: dict[str, str] | None = None, labels=None, band: tuple[str, str, str] | None = None,
          tick_labels: dict | None = None, legend: bool = True) -> pd.DataFrame:
    """One line per column of `frame` (index = year). A missing value breaks the line; when it is suppressed
    (`statuses` has its reason) an « s » is written at the top of the axis above that year, never a 0.
    `band` = (low column, high column, legend): those two columns are drawn as one shaded band behind the lines
    (an interval), not as lines of their own; their values stay in the returned data, as two columns of those names
    beside each line's value (not rows of their own, which a sum by year would count three times).
    `tick_labels`: a year's tick label when it is not the year alone (« oct. 2026 »: a count at the millésime
    date)."""
    colors = colors or {}
    rows = []
    trans = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    years = frame.index.to_numpy()
    marks: dict = {}  # « s » already written above each year: the next one goes below, not on top of it
    if band is not None:
        low, high = (frame[c].to_numpy(dtype=float) for c in band[:2])
        ax.fill_between(years, low, high, where=np.isfinite(low) & np.isfinite(high), color=colors.get(
            band[0], style.COLORS["range"]), alpha=0.22, linewidth=0, label=band[2], zorder=1)
    for k, column in enumerate(frame.columns):
        values = frame[column].to_numpy(dtype=float)
        color = colors.get(column, f"C{k % 10}")
        name = labels(column) if labels else column
        drawn = band is None or column not in band[:2]
        if not drawn:
            continue
        # ten colours, then the same colours dashed, then dotted: no two series look alike
        ax.plot(years, values, marker="os^"[k // 10 % 3], markersize=3, linewidth=1.4, color=color, label=name,
                linestyle=("-", "--", ":")[k // 10 % 3], zorder=2)
        for year in years:
            if _status_at(statuses, year, column) is not None:
                ax.text(year, 0.98 - 0.045 * marks.get(year, 0), style.SUPPRESSED, transform=trans, ha="center",
                        va="top", fontsize=8, color=color, fontweight="bold")
                marks[year] = marks.get(year, 0) + 1
        rows += _series_rows(frame, statuses, column, name)
    style.title(ax, title)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.yaxis.set_major_formatter(lambda v, _pos: fmt(v))
    ax.set_ylim(bottom=0)
    if len(years):
        rotated = len(years) > 8
        ticks = [(tick_labels or {}).get(int(y), str(int(y))) for y in years]
        ax.set_xticks(years, ticks, rotation=90 if rotated else 0)
        # below the year labels (taller when they are turned)
        if legend:
            ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(0, -0.26 if rotated else -0.12),
                      ncols=3)
    else:
        ax.text(0.5, 0.5, "Aucune donnée", transform=ax.transAxes, ha="center")
    data = pd.DataFrame(rows, columns=["serie", "etiquette", "annee", "valeur", "statut", "trace"])
    if band is not None:
        for column in band[:2]:
            bound = frame[column].astype(float)
            data[column] = [bound.get(y, np.nan) if pd.isna(s) else np.nan
                            for y, s in zip(data["annee"], data["statut"])]
    return data


SMALL_SERIES = 0.25  # a series whose peak is under this share of the largest peak gets a panel of its own
END_LABEL_SIZE = 8.0


def small_series(frame: pd.DataFrame) -> list:
    """The columns too small to be read beside the largest one on a common axis (their peak under SMALL_SERIES of
    the largest peak): e.g. 90 mutuelles against 8 000 establishments are a flat line at the bottom. None when
    every series is small or none is."""
    peaks = frame.max()
    if peaks.isna().all():
        return []
    small = [c for c in frame.columns if pd.notna(peaks[c]) and peaks[c] < SMALL_SERIES * peaks.max()]
    return small if len(small) < peaks.notna().sum() else []


def end_labels(ax, frame: pd.DataFrame, colors: dict, labels=None) -> None:
    """Each series' name in its colour right of the axes, level with its last value, moved up or down just enough
    that no two names overlap (so the reader needs no legend)."""
    y0, y1 = ax.get_ylim()
    height = ax.get_position().height * ax.figure.get_figheight() * 72  # points
    ends = []
    for k, column in enumerate(frame.columns):
        values = frame[column].dropna()
        if len(values):
            ends.append(((float(values.iloc[-1]) - y0) / (y1 - y0) * height, k, column))
    ends.sort()
    step = END_LABEL_SIZE * 1.25
    placed: list[float] = []
    for at, _, _ in ends:
        placed.append(max(at, placed[-1] + step) if placed else at)
    if placed and placed[-1] > height + step:  # pushed past the top: the whole column of names comes down
        shift = placed[-1] - height - step
        placed = [p - shift for p in placed]
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - step)
    for (at, k, column), where in zip(ends, placed):
        value = y0 + at / height * (y1 - y0)
        ax.annotate(labels(column) if labels else str(column), xy=(1.0, value), xycoords=("axes fraction", "data"),
                    xytext=(4, where - at), textcoords="offset points", va="center", ha="left",
                    fontsize=END_LABEL_SIZE, color=colors.get(column, f"C{k % 10}"), annotation_clip=False,
                    gid="fin_de_courbe")


def lines_two_scales(ax, frame: pd.DataFrame, statuses: pd.DataFrame | None, *, title: str, fmt, ylabel: str,
                     colors: dict, labels=None, tick_labels: dict | None = None,
                     small_ylabel: str = "plus petites familles\n(échelle agrandie)") -> pd.DataFrame:
    """`lines` with each series named at its end, and the small series (small_series) on a second panel at the right
    with an axis of its own: beside 8 000 establishments, 90 mutuelles are no longer a flat line at 0. Returns the
    data of every series, in the frame's order, as `lines` does."""
    small = small_series(frame)
    large = [c for c in frame.columns if c not in small]
    name = labels or str
    fig, pos = ax.figure, ax.get_position()
    width_pt = fig.get_figwidth() * 72

    def room(columns) -> float:  # the names at the end of the lines, as a share of the figure's width
        return (max([style.text_width(name(c), END_LABEL_SIZE) for c in columns] or [0]) + 10) / width_pt
    if small:
        gap = 58 / width_pt  # the second panel's tick labels and its two-line axis label
        panel = (pos.width - room(large) - room(small) - gap) / 2
        ax.set_position([pos.x0, pos.y0, panel, pos.height])
        second = fig.add_axes((pos.x0 + panel + room(large) + gap, pos.y0, panel, pos.height))
        panels = [(ax, large), (second, small)]
    else:
        ax.set_position([pos.x0, pos.y0, pos.width - room(large), pos.height])
        panels = [(ax, large)]
    parts = []
    for k, (axes, columns) in enumerate(panels):
        part_status = statuses[[c for c in columns if c in statuses.columns]] if statuses is not None else None
        parts.append(lines(axes, frame[columns], part_status, title=title if k == 0 else "", fmt=fmt,
                           ylabel=ylabel if k == 0 else small_ylabel, colors=colors, labels=labels,
                           tick_labels=tick_labels, legend=False))
        if len(frame.index):
            end_labels(axes, frame[columns], colors, labels)
    data = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    order = {c: i for i, c in enumerate(frame.columns)}
    return data.sort_values("serie", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _status_at(statuses: pd.DataFrame | None, year, column) -> str | None:
    """The code of a withheld value (statuses as selection.reasons gives them), else None."""
    if statuses is None or column not in statuses.columns or year not in statuses.index:
        return None
    status = statuses.at[year, column]
    return status if isinstance(status, str) else None


def _series_rows(frame: pd.DataFrame, statuses: pd.DataFrame | None, column, name: str) -> list[dict]:
    """One row per year of a series, as drawn: its value (none when withheld), the code of a withheld one, how it
    was drawn."""
    rows = []
    for year, value in zip(frame.index, frame[column].to_numpy(dtype=float)):
        status = _status_at(statuses, year, column)
        trace = MASKED if status else (BAR if np.isfinite(value) else UNAVAILABLE)
        rows.append({"serie": column, "etiquette": name, "annee": int(year),
                     "valeur": value if np.isfinite(value) and not status else np.nan, "statut": status,
                     "trace": trace})
    return rows


def series_data(frame: pd.DataFrame, statuses: pd.DataFrame | None, labels=None) -> pd.DataFrame:
    """The data of series (index = year, one column each) as `lines` returns it, without drawing them."""
    rows = [r for column in frame.columns
            for r in _series_rows(frame, statuses, column, labels(column) if labels else column)]
    return pd.DataFrame(rows, columns=["serie", "etiquette", "annee", "valeur", "statut", "trace"])


def table_bottom(ax) -> float:
    """The figure y of the bottom of the table `table` drew on `ax`."""
    box = ax.get_position()
    cells = ax.tables[0].get_celld()
    return box.y1 - sum(cell.get_height() for (_r, c), cell in cells.items() if c == 0) * box.height


def table(ax, header: list[str], rows: list[list[str]], *, title: str | None = None, fontsize: float = 8.0,
          first_column_width: int = 0) -> float:
    """A text table with ax.table at the top of `ax`; column widths fit their text (auto_set_column_width), rows
    are sized in points so the layout does not depend on the axes' height. Returns the figure y of its bottom."""
    ax.axis("off")
    if title:
        style.title(ax, title)
    fig_h = ax.figure.get_figheight()
    box = ax.get_position()
    if not rows:
        ax.text(0, 1, "Aucune ligne.", fontsize=fontsize, transform=ax.transAxes, va="top")
        return box.y1 - 2 * fontsize / 72 / fig_h
    if first_column_width:
        rows = [[_wrap(r[0], first_column_width)] + list(r[1:]) for r in rows]
    # figures right-aligned (units under units), the first column's words left-aligned
    tab = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="right", colLoc="right")
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    tab.auto_set_column_width(list(range(len(header))))
    line = fontsize * 1.9 / 72 / (box.height * fig_h)  # one text line, as a fraction of the axes' height
    total = 0.0
    heights = []
    for r, texts in enumerate([header] + [list(x) for x in rows]):
        heights.append(line * (max(str(t).count("\n") for t in texts) + 1))
    total = sum(heights)
    for (r, c), cell in tab.get_celld().items():
        if c == 0:  # matplotlib's Cell keeps its alignment in _loc (no setter), and its text's
            cell._loc = "left"
            cell.get_text().set_horizontalalignment("left")
        cell.set_edgecolor("#cccccc")
        cell.set_height(heights[r])
        if r == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#eef3f1")
    return box.y1 - total * box.height
