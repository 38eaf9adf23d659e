"""The annual report of the Département: PNG charts (with the data behind each one, as CSV) and a French PDF.

`build_report` is the report step of docs/CONTRIBUTING.md. It reads only the protected cube for establishment and
employment figures; core_calibration (calibration factors), out_audit_perimetre (one total under the frequency
rule) and staging_urssaf_ess_departement (URSSAF's published series) feed the method page and the evolution chart.
The PDF is byte-identical between runs on the same inputs: TrueType fonts embedded (pdf.fonttype 42), fixed
metadata, figures laid out with fixed axes, and no date from the clock. Its edition date (printed on the first two
pages, and the PDF's CreationDate) is the run's: the day its id says it started (« 20261130T160727-… »), else, for an
id chosen by hand, the millésime's date (ReportContext.edition_date). Rebuilding the report of a run later
(`ess report`) keeps that date. Page 1 ends with a contents (« Sommaire ») and the PDF has one bookmark per page
(reports/outline.py), both from the pages' titles.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages

from reports import export, outline, pages, style, synthesis_pages, text_pages
from reports.context import ReportContext, load_context
from transforms import yearly
from transforms.steps import StepOutput

PAGE_TITLES = {
    "territoires": "Les territoires",
    "epci": "Les intercommunalités (EPCI)",
    "familles": "Les familles de l'ESS",
    "secteurs": "Les secteurs d'activité",
    "tailles": "La taille des établissements",
    "evolution": "L'évolution depuis 2012",
    "evolution_emploi": "L'emploi salarié de l'ESS depuis 2012",
    "cartes": "Cartes du département",
}
SOFTWARE = "ESS observatoire (matplotlib)"
# From this many rows of the public cube (the sample has 150 000) the charts are drawn beside the PDF, in a process of
# their own; below, starting that process (≈ 2 s of imports) costs more than it saves.
MIN_ROWS_FOR_CHARTS_PROCESS = 20_000


def report_name(params: dict) -> str:
    return f"rapport_ess_{params['departement']}_{params['millesime']}.pdf"


def _pdf_metadata(ctx: ReportContext) -> dict:
    p = ctx.params
    title = f"L'économie sociale et solidaire en {ctx.nom_departement} — {p['millesime']}"
    day = ctx.edition_date()  # the run's, not the clock's: same inputs, same bytes
    created = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return {
        "Title": (style.SYNTHETIC_MENTION + " — " + title) if ctx.synthetic else title,
        "Author": "Observatoire de l'ESS",
        "Subject": style.SYNTHETIC_MENTION if ctx.synthetic else f"Rapport annuel, périmètre {p['perimetre']}",
        "Keywords": "ESS, économie sociale et solidaire, " + ctx.nom_departement
                    + (", données synthétiques" if ctx.synthetic else ""),
        "Creator": SOFTWARE,
        "CreationDate": created,  # fixed: same inputs, same bytes
    }


def _png_metadata(ctx: ReportContext, title: str) -> dict:
    return {
        "Title": (style.SYNTHETIC_MENTION + " — " + title) if ctx.synthetic else title,
        "Description": style.SYNTHETIC_MENTION if ctx.synthetic else "secret statistique appliqué",
        "Software": SOFTWARE,
        "Source": ctx.sources(),
    }


def chart_pages(ctx: ReportContext) -> list[tuple[str, str, list[pages.ChartSpec]]]:
    """The chart pages of the report, in order: (page key, title, its charts)."""
    specs = pages.chart_specs(ctx)
    chosen = []
    for key, title in PAGE_TITLES.items():
        if key not in specs:
            continue
        if key == "territoires" and pages.territory_level(ctx) == "arrondissement":
            title = "Les arrondissements"
        if key == "evolution":
            title = f"L'évolution depuis {int(ctx.cube['annee'].min())}"
        if key == "evolution_emploi":
            # a series needs two published years (earlier years' employment may stay internal, METHOD.md § 6)
            years = ctx.cube.loc[pages.published_employment(ctx.cube), "annee"]
            if years.nunique() < 2:
                continue
            title = f"L'emploi salarié de l'ESS depuis {int(years.min())}"
        chosen.append((key, title, specs[key]))
    return chosen


def charts_of(ctx: ReportContext) -> dict[str, pages.ChartSpec]:
    """Every chart the report draws, by name (what `render` returns beside its pages, without drawing them)."""
    by_name = {s.name: s for _, _, specs in chart_pages(ctx) for s in specs}
    comparison = synthesis_pages.comparison_spec(ctx)
    if comparison is not None:
        by_name[comparison.name] = comparison
    return by_name


def render(ctx: ReportContext) -> tuple[list, dict[str, pages.ChartSpec]]:
    """The report's pages (matplotlib Figures, in order) and its charts by name."""
    figures = [synthesis_pages.messages_page(ctx, 1), text_pages.cover_page(ctx, 2)]
    by_name: dict[str, pages.ChartSpec] = {}
    for key, title, specs in chart_pages(ctx):
        fig, _ = pages.chart_page(ctx, title, specs, len(figures) + 1)
        figures.append(fig)
        by_name.update({s.name: s for s in specs})
        if key == "epci":  # the territories' figures as a table, after their charts
            figures.append(synthesis_pages.numbers_page(ctx, len(figures) + 1))
    comparison = synthesis_pages.comparison_spec(ctx)
    if comparison is not None or len(ctx.urssaf_rows):
        fig, _ = synthesis_pages.comparison_page(ctx, comparison, len(figures) + 1)
        figures.append(fig)
        if comparison is not None:
            by_name[comparison.name] = comparison
    figures.append(synthesis_pages.limits_page(ctx, len(figures) + 1))
    figures.append(text_pages.method_page(ctx, len(figures) + 1))
    figures.append(text_pages.tables_page(ctx, len(figures) + 1))
    synthesis_pages.contents(figures[0], ctx, contents_of(figures)[1:])
    return figures, by_name


def contents_of(figures: list) -> list[tuple[str, int]]:
    """(title, page number) of each page, in order."""
    return [(pages.page_title(fig), number) for number, fig in enumerate(figures, start=1)]


def write_pdf(ctx: ReportContext, figures: list, path: Path) -> Path:
    """The pages into one PDF (atomic: a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with style.pdf_without_ligatures(), PdfPages(tmp, metadata=_pdf_metadata(ctx)) as pdf:
        for fig in figures:
            style.no_ligatures(fig)
            pdf.savefig(fig)
    outline.add_outline(tmp, [(title, number - 1) for title, number in contents_of(figures)])
    tmp.replace(path)
    return path


def write_chart(ctx: ReportContext, spec: pages.ChartSpec, folder: Path) -> tuple[Path, Path, int]:
    """One chart as PNG plus the data it drew as CSV (for people, reports/export.py) and Parquet (for programs);
    returns the PNG and CSV paths and its number of suppressed values."""
    fig, data = pages.chart_figure(ctx, spec)
    png = folder / f"{spec.name}.png"
    fig.savefig(png, dpi=150, metadata=_png_metadata(ctx, spec.title))
    csv = export.write_csv(data, folder / f"{spec.name}.csv", unit=spec.unit, measure_label=spec.title,
                           synthetic=ctx.synthetic)
    export.write_parquet(data, folder / f"{spec.name}.parquet", unit=spec.unit, synthetic=ctx.synthetic)
    return png, csv, int((data["trace"] == "masque").sum())


def write_charts(tables: dict[str, Path], params: dict, folder: Path) -> tuple[dict[str, dict], int]:
    """Every chart of the report into `folder` (write_chart): the files written by chart, and the number of
    suppressed values they show. Reads its own context: it runs in a process of its own beside the PDF."""
    style.apply()
    ctx = load_context(tables, params)
    written, suppressed = {}, 0
    for name, spec in charts_of(ctx).items():
        png, csv, n = write_chart(ctx, spec, folder)
        written[name] = {"png": str(png), "donnees": str(csv), "donnees_parquet": str(csv.with_suffix(".parquet"))}
        suppressed += n
    return written, suppressed


def build_report(tables: dict[str, Path], params: dict, out_dir: Path) -> StepOutput:
    """Write the charts (PNG + CSV of their data) into out_dir/graphiques and the PDF into out_dir. For a large cube
    the charts are drawn in a process of their own while this one draws the PDF: each takes about half the time."""
    style.apply()
    ctx = load_context(tables, params)  # the input's errors are raised here, before any drawing
    out_dir = Path(out_dir)
    charts_dir = out_dir / "graphiques"
    charts_dir.mkdir(parents=True, exist_ok=True)
    beside = len(ctx.cube) >= MIN_ROWS_FOR_CHARTS_PROCESS
    with yearly.in_child(write_charts, dict(tables), params, charts_dir, enabled=beside) as charts:
        figures, specs = render(ctx)
        pdf_path = write_pdf(ctx, figures, out_dir / report_name(params))
        written, suppressed = charts.result()
    if set(written) != set(specs):  # the same choice of charts on both sides (charts_of, render)
        raise RuntimeError(f"the charts drawn {sorted(written)} are not the report's {sorted(specs)} (a bug)")
    return StepOutput(tables={}, stats={
        "rapport": {
            "pdf": str(pdf_path),
            "pages": len(figures),
            "graphiques": written,
            "cartes": any(s.kind == "map" for s in specs.values()),
            "synthetique": ctx.synthetic,
            "annee": ctx.year,
            "valeurs_masquees_dans_les_graphiques": suppressed,
        }
    })
