"""The charts of the report (ChartSpec: a name, a title, a drawing function) and the pages that lay them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports import charts, coverage, maps, style
from reports import selection as sel
from reports.context import ReportContext
from transforms import reference
from transforms.columns import FAMILLES

SIZE_NOTE = ("Taille : classe de la tranche d'effectifs salariés de SIRENE, que l'INSEE met à jour avec "
             "retard (souvent de plusieurs années). ")
NO_EMPLOYEE_CLASS = "sans_salarie"  # data/reference/classes_taille.csv: bands NN and 00


def size_note(ctx) -> str:
    """SIZE_NOTE, what the « 0 salarié » class holds (from the cube), then who counts as an employer (with the
    years of the ESS employers' size bands, when known)."""
    return SIZE_NOTE + _no_employee_class(ctx) + ctx.employers_caveat() + " "


def _no_employee_class(ctx) -> str:
    """The class of bands without employee on 31 December of their year holds employers (band 00: employees during
    that year) and, years later, estimated employees: said with the cube's figures, so no one reads an error."""
    rows = sel.cells(ctx.cube, annee=ctx.year, famille="ess", classe=NO_EMPLOYEE_CLASS)
    if rows.empty:
        return ""
    row = rows.iloc[0]
    label = _label_or_code(row["libelle_classe_taille"], NO_EMPLOYEE_CLASS)
    text = (f"«{style.NBSP}{label}{style.NBSP}» : tranches sans salarié au 31/12 de leur année (souvent "
            "ancienne) ; elle compte "
            f"{_fmt_int(row['nb_etablissements_employeurs'])} employeurs (salariés dans l'année de la tranche, aucun "
            "au 31/12)")
    jobs = sel.cells(ctx.cube, annee=ctx.year_effectifs, famille="ess", classe=NO_EMPLOYEE_CLASS)
    if len(jobs) and jobs.iloc[0]["statut_secret_effectifs"] == sel.PUBLIE:
        text += (f" et {style.fmt_estimate(jobs.iloc[0]['effectif_central'])} salariés estimés au "
                 f"{ctx.date_effectifs()} (embauches depuis la tranche)")
    return text + ". "




def range_note(ctx: ReportContext, indicateur: str, niveau: str = coverage.DEPARTEMENT) -> str:
    """« Trait fin : intervalle à 90 %, conçu pour … ; éprouvé sur … » for a chart of the employment year (the
    measured coverage of `indicateur` at the level of the chart's territories, reports/coverage.py)."""
    return "Trait fin : " + coverage.interval_sentence(ctx.coverage, indicateur, (coverage.YEAR,), niveau) + "."


def unmeasured_range_note(what: str) -> str:
    """« Trait fin : intervalle à 90 %, conçu pour … ; couverture non mesurée par secteur » for a chart whose cells'
    coverage no benchmark measured (sectors, sizes): the département's measure would say nothing of them."""
    return f"Trait fin : intervalle à 90 %, {coverage.NOMINAL} ; {coverage.NOT_MEASURED} {what}."


def families_range_note(ctx: ReportContext) -> str:
    return ("Trait fin : intervalle à 90 %, " + coverage.NOMINAL + " ; " + coverage.families_tested(ctx.coverage)
            + " " + coverage.SEE_METHOD + ". Chaque valeur est arrondie à part : leur somme peut différer du total.")


def band_note(ctx: ReportContext) -> str:
    """The band of the employment series: every year, so both scopes of the measured coverage."""
    return "Bande claire : " + coverage.interval_sentence(ctx.coverage, "emploi_ess") + "."

# (employment only: counts of establishments are never masked, METHOD.md § 6)
SECRET_NOTE = "« s » : valeur couverte par le secret statistique (motif à côté ou dans cette note), jamais un zéro."


def secret_reasons(ctx: ReportContext) -> dict[str, str]:
    """Each masking reason in words a reader understands (the thresholds from the run's secret_statistique.csv)."""
    rules = ctx.secret_rules
    seuil = style.fmt_number(rules.get("frequence")) if rules.get("frequence") else "quelques"
    dominance = style.fmt_percent(rules["dominance"], 0) if rules.get("dominance") else "l'essentiel"
    return {
        "frequence": f"fréquence : moins de {seuil} unités légales dans la case, l'emploi de chacune se lirait",
        "dominance": f"dominance : une seule unité légale y fait plus de {dominance} de l'emploi",
        "secondaire": "secret secondaire : masqué pour qu'aucune case protégée ne puisse être recalculée à partir "
                      "des chiffres publiés",
        "denominateur": "total de l'économie masqué : l'emploi de tous les employeurs de la case (territoire, "
                        "secteur ou taille) est protégé, la part de l'ESS ne peut donc pas être publiée",
        "non_diffuse": "non diffusé : l'emploi par secteur ou par taille n'est publié que pour le département",
    }


def secret_glossary(ctx: ReportContext, statuses) -> str:
    """« Motifs — fréquence : … ; secret secondaire : …. » for the reasons among `statuses` (codes of the public
    table, in any shape), '' when none is withheld."""
    codes = pd.Series(np.asarray(statuses, dtype=object).ravel())
    shown = set(codes[codes.map(sel.withheld)])
    words = [text for code, text in secret_reasons(ctx).items() if code in shown]
    return (" Motifs — " + " ; ".join(words) + ".") if words else ""


@dataclass
class ChartSpec:
    name: str  # file stem of the PNG and its data CSV
    title: str
    draw: Callable  # (ax) -> DataFrame of the drawn data
    note: str = ""
    kind: str = "bar"  # bar | line | map (layout of the stand-alone PNG)
    rows: int = 8  # bars, for the PNG height
    unit: str = "nombre"  # what `valeur` is (reports/export.UNITS): nombre | effectif | part | taux | indice
    source: str = ""  # the source line printed under the chart


# --- series -------------------------------------------------------------------------------------------------------
def _fmt_int(v):
    return style.fmt_number(v)


def _fmt_pct(v):
    return style.fmt_percent(v, 1)


def _fmt_dec(v):
    return style.fmt_number(v, 1)


def territory_level(ctx: ReportContext) -> str:
    """The level of the territory pages: the run's finest zoning (e.g. Isère's territoires), else arrondissements."""
    return ctx.niveau_territoires.niveau


def _territory_rows(ctx: ReportContext, niveau: str, annee: int | None = None) -> pd.DataFrame:
    rows = sel.cells(ctx.cube, annee=ctx.year if annee is None else annee, niveau=niveau, famille="ess")
    rows = rows.assign(_label=[_territory_label(r) for r in rows.itertuples()],
                       _inconnu=rows["code_territoire"] == "non_renseigne")
    rows = rows.assign(_tri=rows["_label"].str.lower())
    # alphabetical, unknown placement last
    return rows.sort_values(["_inconnu", "_tri", "code_territoire"])


def _territory_label(row) -> str:
    if row.code_territoire == "non_renseigne":
        return "Rattachement inconnu"
    name = style.display_label(row.libelle_territoire) if isinstance(row.libelle_territoire, str) else (
        row.code_territoire)
    return name + (" (partie)" if getattr(row, "epci_partiel", False) is True else "")


def _family_rows(ctx: ReportContext, annee: int | None = None) -> pd.DataFrame:
    rows = sel.cells(ctx.cube, annee=ctx.year if annee is None else annee, famille=FAMILLES)
    order = {f: i for i, f in enumerate(FAMILLES)}
    return rows.sort_values("famille", key=lambda s: s.map(order))


def _sector_rows(ctx: ReportContext, annee: int | None = None) -> pd.DataFrame:
    rows = sel.cells(ctx.cube, annee=ctx.year if annee is None else annee, famille="ess", nomenclature="ess",
                     secteur=None)
    rows = rows[rows["secteur"] != "ensemble"].copy()
    rows["_hidden"] = rows["statut_secret_etablissements"].map(sel.withheld) | (rows["secteur"] == "non_renseigne")
    rows["_n"] = rows["nb_etablissements"].fillna(-1)
    return rows.sort_values(["_hidden", "_n", "secteur"], ascending=[True, False, True])


def _size_rows(ctx: ReportContext, annee: int | None = None) -> pd.DataFrame:
    """The ESS by size class, in the order of data/reference/classes_taille.csv (`ordre`), labelled by the cube's
    libelle_classe_taille (from the same file)."""
    rows = sel.cells(ctx.cube, annee=ctx.year if annee is None else annee, famille="ess", classe=None)
    rows = rows[rows["classe_taille"] != "ensemble"]
    order = {c: i for i, c in enumerate(reference.size_classes(ctx.params.get("reference_dir")))}
    rows = rows.assign(_label=[_label_or_code(a, b) for a, b in zip(rows["libelle_classe_taille"],
                                                                    rows["classe_taille"])])
    return rows.sort_values("classe_taille", key=lambda s: s.map(lambda c: order.get(c, len(order))))


def _label_or_code(row_label, code):
    return row_label if isinstance(row_label, str) else code


def chart_specs(ctx: ReportContext) -> dict[str, list[ChartSpec]]:
    """The charts of each page, by page key. Establishment counts are those of the millésime (at its date),
    employment and its shares those of the employment year (on 31 December): each title says which date."""
    niveau = territory_level(ctx)
    nom_niveau = ctx.niveau(niveau).par
    y_emp = ctx.year_effectifs
    au_etab = f"au {ctx.date_reference()}"
    au_emp = f"au {ctx.date_effectifs()}"
    specs: dict[str, list[ChartSpec]] = {}

    def bars(name, title, rows, measure, label_column, fmt, xlabel, with_range=False, labels=None, note="",
             code_column=None, ordered=False):
        # an estimated headcount is written rounded (style.fmt_estimate), its axis' ticks exactly
        ticks = _fmt_int if fmt is style.fmt_estimate else None

        def draw(ax, rows=rows):
            data = sel.series(rows, measure, label_column, labels, code_column)
            if not ordered:  # an ordinal dimension (size) keeps its order; the others read largest first
                data = sel.largest_first(data)
            return charts.hbar(ax, data, title=title, fmt=fmt, xlabel=xlabel, with_range=with_range, tick_fmt=ticks)
        if measure in sel.STATUS_OF:
            note += secret_glossary(ctx, rows[sel.STATUS_OF[measure]])
        unit = "part" if measure.startswith("part_") else ("effectif" if "effectif" in measure else "nombre")
        source = source_employment(ctx) if "effectif" in measure else source_counts(ctx)
        return ChartSpec(name, title, draw, note=note, rows=max(len(rows), 1), unit=unit, source=source)

    share_label = "part de l'emploi salarié (tous employeurs, publics compris)"
    for key, lvl, nom in (("territoires", niveau, nom_niveau), ("epci", "epci", "EPCI")):
        counts = _territory_rows(ctx, lvl)
        jobs = _territory_rows(ctx, lvl, y_emp)
        where = territory_note(ctx) if lvl == niveau else (
            EPCI_NOTE if lvl == "epci" else "")
        specs[key] = [
            bars(f"{key}_etablissements", f"Établissements de l'ESS par {nom}, {au_etab}", counts,
                 "nb_etablissements", "_label", _fmt_int, "établissements actifs", note=where.strip(),
                 code_column="code_territoire"),
            bars(f"{key}_part_emploi", f"Part de l'ESS dans l'emploi salarié par {nom}, {au_emp}", jobs,
                 "part_effectif_total_central", "_label", _fmt_pct, share_label,
                 with_range=True, note=where + range_note(ctx, "part_total", lvl) + " " + SECRET_NOTE,
                 code_column="code_territoire"),
        ]
    specs["familles"] = [
        bars("familles_etablissements", f"Établissements par famille de l'ESS, {au_etab}", _family_rows(ctx),
             "nb_etablissements", "famille", _fmt_int, "établissements actifs",
             labels=lambda c: style.label("famille", c)),
        bars("familles_emploi", f"Emploi salarié par famille de l'ESS, {au_emp}", _family_rows(ctx, y_emp),
             "effectif_central", "famille", style.fmt_estimate, "salariés (estimation centrale arrondie)",
             with_range=True,
             labels=lambda c: style.label("famille", c), note=families_range_note(ctx) + " " + SECRET_NOTE),
    ]
    sec = _sector_rows(ctx)
    sec = sec.assign(_label=[_label_or_code(a, b) for a, b in zip(sec["libelle_secteur"], sec["secteur"])])
    sec_emp = _sector_rows(ctx, y_emp)
    sec_emp = sec_emp.assign(_label=[_label_or_code(a, b) for a, b in zip(sec_emp["libelle_secteur"],
                                                                          sec_emp["secteur"])])
    specs["secteurs"] = [
        bars("secteurs_etablissements", f"Établissements de l'ESS par secteur d'activité, {au_etab}", sec,
             "nb_etablissements", "_label", _fmt_int, "établissements actifs", code_column="secteur"),
        bars("secteurs_part_emploi", f"Part de l'ESS dans l'emploi salarié du secteur (tous employeurs), {au_emp}",
             sec_emp, "part_effectif_total_central", "_label", _fmt_pct,
             "part de l'emploi salarié du secteur, employeurs publics compris",
             with_range=True, note=unmeasured_range_note("par secteur") + " " + SECRET_NOTE,
             code_column="secteur"),
    ]
    specs["tailles"] = [
        bars("tailles_etablissements", f"Établissements de l'ESS par taille, {au_etab}", _size_rows(ctx),
             "nb_etablissements", "_label", _fmt_int, "établissements actifs", code_column="classe_taille",
             note=size_note(ctx).strip(), ordered=True),
        bars("tailles_emploi", f"Emploi salarié de l'ESS par taille d'établissement, {au_emp}", _size_rows(ctx, y_emp),
             "effectif_central", "_label", style.fmt_estimate, "salariés (estimation centrale arrondie)",
             with_range=True,
             code_column="classe_taille",
             note="Taille : classe de la tranche d'effectifs SIRENE (voir ci-dessus). "
             + unmeasured_range_note("par taille") + " " + SECRET_NOTE,
             ordered=True),
    ]
    specs["evolution"] = [_evolution_counts(ctx), _evolution_urssaf(ctx)]
    specs["evolution_emploi"] = [_evolution_employment(ctx), _evolution_employment_territories(ctx)]
    map_specs = _map_specs(ctx)
    if map_specs:
        specs["cartes"] = map_specs
    return specs


EPCI_NOTE = "Un EPCI à cheval sur deux départements n'est compté que pour sa partie dans le département. "


def territory_note(ctx: ReportContext) -> str:
    """The report's zoning is an approximation when its file says so (e.g. territoires rebuilt from whole EPCIs)."""
    if ctx.territoires_approches:
        return (f"{ctx.niveau_territoires.libelle} reconstitués par regroupement d'intercommunalités (EPCI) : "
                "une approximation, leurs limites réelles peuvent couper un EPCI. ")
    return ""


def source_counts(ctx: ReportContext) -> str:
    return (f"Source : INSEE, répertoire SIRENE, établissements actifs au {ctx.date_reference()} ; traitement "
            "observatoire de l'ESS.")


def source_employment(ctx: ReportContext, series: bool = False) -> str:
    """The source line of an employment chart: the employment year's, or (`series`) that of every year's."""
    if series:
        calage = ("calées sur les effectifs publiés par l'URSSAF pour chaque année, plus l'emploi relevant de la MSA "
                  "estimé") if ctx.calibrated else (
            "non calées sur l'URSSAF")
        return ("Source : estimations de l'observatoire au 31/12 de chaque année à partir de SIRENE (INSEE) et de son "
                f"historique, {calage}.")
    calage = (f"calée sur les effectifs publiés par l'URSSAF pour {ctx.year_effectifs}, plus l'emploi relevant de "
              "la MSA estimé" if ctx.calibrated
              else "non calée sur l'URSSAF")
    return (f"Source : estimation de l'observatoire au {ctx.date_effectifs()} à partir de SIRENE (INSEE), {calage}.")


def source_urssaf() -> str:
    return ("Source : URSSAF, effectifs salariés et masse salariale de l'ESS par département (données publiques, "
            "champ privé du régime général).")


def _evolution_counts(ctx: ReportContext) -> ChartSpec:
    rows = sel.cells(ctx.cube, famille=FAMILLES + ("ess",))
    values = rows.pivot(index="annee", columns="famille", values="nb_etablissements").sort_index()
    status = sel.reasons(rows.pivot(index="annee", columns="famille", values="statut_secret_etablissements")
                         .sort_index())
    order = [f for f in FAMILLES + ("ess",) if f in values.columns]
    values, status = values[order], status[order]
    first = int(values.index.min()) if len(values) else ctx.year
    title = f"Établissements de l'ESS actifs depuis {first}"

    def draw(ax):
        data = charts.lines_two_scales(
            ax, values, status, title=title, fmt=_fmt_int, ylabel="établissements actifs",
            colors=style.FAMILY_COLORS, labels=lambda c: style.label("famille", c),
            tick_labels={ctx.year: style.fmt_month(pd.Timestamp(_iso(ctx.date_reference())))})
        # counted on 31 December, the millésime year at the end of the millésime month
        data["date_reference"] = [_iso(ctx.date_reference()) if y == ctx.year else f"{y}-12-31"
                                  for y in data["annee"]]
        return data
    note = ("Nombre d'établissements actifs au 31 décembre de chaque année (historique SIRENE) ; le dernier point "
            f"est celui du millésime, compté au {ctx.date_reference()}, et non un 31 décembre."
            + _two_scales_note(values))
    source = ("Source : INSEE, répertoire SIRENE et son historique des établissements, stock au "
              f"{ctx.date_reference()} ; traitement observatoire de l'ESS.")
    return ChartSpec("evolution_etablissements", title, draw, note=note, kind="line", source=source)


def _two_scales_note(frame: pd.DataFrame) -> str:
    """What the second panel of a families' chart is, when it has one (charts.lines_two_scales)."""
    small = charts.small_series(frame)
    if not small:
        return ""
    names = [style.label("famille", c) for c in small]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " et " + names[-1]
    return (f" À droite, {listed}, sur une échelle agrandie (un axe à part) : à l'échelle de gauche leurs courbes "
            "seraient plates.")


def published_employment(rows: pd.DataFrame) -> pd.Series:
    """Rows whose year's employment is published (estimated, and not kept in the internal cube: « non_diffuse »);
    masked cells stay, drawn as « s »."""
    return rows["date_reference_effectifs"].notna() & ~rows["statut_secret_effectifs"].isin(["non_diffuse",
                                                                                             *sel.NO_FIGURE])


def _band_width(frame: pd.DataFrame, hidden: pd.Series) -> str:
    """The last published year's interval in words: a band of a few percent is hardly visible on an axis from 0."""
    shown = frame[hidden.isna() & frame["ic90_bas"].notna() & frame["ic90_haut"].notna()]
    if shown.empty:
        return ""
    year = int(shown.index.max())
    low, high = shown.loc[year, "ic90_bas"], shown.loc[year, "ic90_haut"]
    if high - low > 0.1 * shown["central"].max():  # a band a tenth of the axis high is seen
        return ""
    return (f" La bande est étroite à cette échelle : en {year}, de {style.fmt_estimate(low)} à "
            f"{style.fmt_estimate(high)} salariés.")


def _evolution_employment(ctx: ReportContext) -> ChartSpec:
    """ESS employment of the département on 31 December of each year, with its 90 % interval."""
    rows = sel.cells(ctx.cube, famille="ess")
    rows = rows[published_employment(rows)].sort_values("annee").set_index("annee")
    hidden = sel.reasons(rows["statut_secret_effectifs"])
    frame = pd.DataFrame({"central": rows["effectif_central"], "ic90_bas": rows["effectif_ic90_bas"],
                          "ic90_haut": rows["effectif_ic90_haut"]})
    status = pd.DataFrame({c: hidden for c in frame.columns})
    first = int(frame.index.min()) if len(frame) else ctx.year
    title = f"Emploi salarié de l'ESS au 31/12 de chaque année, {first} – {ctx.year_effectifs or ''}"
    names = {"central": "estimation centrale", "ic90_bas": "borne basse (intervalle à 90 %)",
             "ic90_haut": "borne haute (intervalle à 90 %)"}

    def draw(ax):
        data = charts.lines(ax, frame, status, title=title, fmt=_fmt_int, ylabel="salariés au 31/12",
                            colors={"central": style.COLORS["ess"], "ic90_bas": style.COLORS["range"]},
                            labels=lambda c: names[c], band=("ic90_bas", "ic90_haut", "intervalle à 90 %"))
        data["date_reference"] = [f"{y}-12-31" for y in data["annee"]]
        return data
    # (short: the band's coverage sentence is long, the page's second chart starts right under this note, and the
    # source line says how each year is estimated)
    note = ("Salariés des établissements de l'ESS ouverts au 31/12 de chaque année" + ("" if ctx.calibrated else
                                                                        ", emploi NON CALÉ sur l'URSSAF")
            + ". " + band_note(ctx) + _band_width(frame, hidden))
    return ChartSpec("evolution_emploi_ess", title, draw, note=note, kind="line", unit="effectif",
                     source=source_employment(ctx, series=True))


def _evolution_employment_territories(ctx: ReportContext) -> ChartSpec:
    """ESS employment of each territory on 31 December of the first, middle and last years, and its change where
    both ends are published: a table (thirteen lines on one axis could not be read). Every year's value, with its
    interval, is in the chart's data; the note lists every masked year."""
    niveau = territory_level(ctx)
    rows = sel.cells(ctx.cube, niveau=niveau, famille="ess")
    rows = rows[published_employment(rows) & (rows["code_territoire"] != "non_renseigne")]
    labels = {r.code_territoire: _territory_label(r) for r in rows.itertuples()}
    values = rows.pivot(index="annee", columns="code_territoire", values="effectif_central").sort_index()
    status = sel.reasons(rows.pivot(index="annee", columns="code_territoire", values="statut_secret_effectifs")
                         .sort_index())
    low = rows.pivot(index="annee", columns="code_territoire", values="effectif_ic90_bas").sort_index()
    high = rows.pivot(index="annee", columns="code_territoire", values="effectif_ic90_haut").sort_index()
    nom = ctx.niveau(niveau).par
    years = _milestones(values.index)
    span = f"{years[0]} – {years[-1]}" if years else ""
    title = f"Emploi salarié de l'ESS par {nom}, au 31/12, {span}"

    def draw(ax):
        data = charts.series_data(values, status, labels=lambda c: labels.get(c, c))
        charts.table(ax, [ctx.niveau(niveau).libelle] + [str(y) for y in years]
                     + [f"Évolution\n{years[0]} – {years[-1]}" if years else "Évolution"],
                     milestone_rows(values, status, labels, years), title=title, first_column_width=28)
        # (a missing status may read as NaN, which is true: isna, not truthiness)
        key = list(zip(data["serie"], data["annee"], data["statut"].isna()))
        data["ic90_bas"] = [low.at[y, c] if shown else np.nan for c, y, shown in key]
        data["ic90_haut"] = [high.at[y, c] if shown else np.nan for c, y, shown in key]
        data["date_reference"] = [f"{y}-12-31" for y in data["annee"]]
        return data
    note = ("Estimation centrale arrondie au 31/12 de l'année ; toutes les années, avec l'intervalle à 90 % de "
            "chaque valeur, figurent dans les données du graphique (" + coverage.interval_sentence(
                ctx.coverage, "emploi_ess", niveau=niveau) + "). Évolution : seulement si les deux années sont "
            "publiées, calculée sur les valeurs non arrondies. " + SECRET_NOTE + _masked_in_words(status, labels)
            + secret_glossary(ctx, status))
    return ChartSpec("evolution_emploi_territoires", title, draw, note=territory_note(ctx) + note, kind="table",
                     rows=len(values.columns) + 1, unit="effectif", source=source_employment(ctx, series=True))


def _milestones(years) -> list[int]:
    """The first year, the middle one and the last: 2012, 2019, 2025."""
    years = sorted(int(y) for y in years)
    if len(years) < 3:
        return years
    middle = min(years, key=lambda y: (abs(2 * y - years[0] - years[-1]), -y))
    return [years[0], middle, years[-1]]


def milestone_rows(values: pd.DataFrame, status: pd.DataFrame, labels: dict, years: list[int]) -> list[list[str]]:
    """One row per series (alphabetical): its value each milestone year (« s (motif) » when masked), and its change
    from the first to the last when both are published."""
    def cell(code, year) -> str:
        reason = status.at[year, code] if year in status.index else None
        if isinstance(reason, str):
            return style.label("secret_court", reason)
        value = values.at[year, code] if year in values.index else np.nan
        return style.fmt_estimate(value) if pd.notna(value) else style.UNAVAILABLE

    out = []
    for code in sorted(values.columns, key=lambda c: str(labels.get(c, c)).lower()):
        row = [labels.get(code, code)] + [cell(code, y) for y in years]
        ends = [values.at[y, code] if not isinstance(status.at[y, code], str) else np.nan
                for y in (years[0], years[-1])] if years else [np.nan, np.nan]
        row.append(style.signed_pct(ends[1] / ends[0] - 1) if pd.notna(ends[0]) and pd.notna(ends[1]) and ends[0]
                   else style.UNAVAILABLE)
        out.append(row)
    return out


def _masked_in_words(status: pd.DataFrame, labels: dict) -> str:
    """The masked values of a many-series chart, by series, every one: an « s » alone cannot say whose value it
    hides, nor a table of a few years the others. Consecutive years as a range."""
    parts = []
    for code in status.columns:
        years = [int(y) for y in status.index[status[code].notna() & (status[code] != "non_diffuse")]]
        if years:
            reasons = sorted({style.label("secret", r) for r in status.loc[years, code]})
            parts.append(f"{labels.get(code, code)} {_year_runs(years)} ({', '.join(reasons)})")
    return (" Valeurs masquées : " + " ; ".join(parts) + ".") if parts else ""


def _year_runs(years: list[int]) -> str:
    """[2012, 2013, 2014, 2016] -> '2012–2014, 2016'."""
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _evolution_urssaf(ctx: ReportContext) -> ChartSpec:
    frame = ctx.urssaf
    order = [f for f in FAMILLES + ("ess",) if f in frame.columns]
    frame = frame[order] if len(frame) else frame
    title = "Effectif salarié moyen annuel de l'ESS publié par l'URSSAF, par famille"

    def draw(ax):
        data = charts.lines_two_scales(ax, frame, None, title=title, fmt=_fmt_int,
                                       ylabel="effectif salarié moyen (URSSAF)", colors=style.FAMILY_COLORS,
                                       labels=lambda c: style.label("famille", c))
        # URSSAF's figure is the year's average of quarterly headcounts, not a 31 December headcount
        data["date_reference"] = [f"{y} (moyenne annuelle)" for y in data["annee"]]
        return data
    note = ("Effectifs salariés MOYENS de l'année (moyenne des quatre trimestres) de l'ESS du "
            "département, champ privé du régime général (les salariés agricoles relevant de la MSA n'y figurent "
            "pas) : une autre mesure que l'effectif au 31/12 estimé par ce rapport. Une valeur non publiée "
            "interrompt la courbe." + _two_scales_note(frame))
    return ChartSpec("evolution_emploi_urssaf", title, draw, note=note, kind="line", unit="effectif",
                     source=source_urssaf())


def _map_specs(ctx: ReportContext) -> list[ChartSpec]:
    path = maps.contours_file(ctx.params.get("annee_cog"))
    communes = ctx.communes
    if path is None or communes.empty:
        return []
    rings = maps.load_contours(path, communes["code_commune"].tolist())
    if not rings:
        return []
    places = maps.place_names(rings, communes)
    missing = sorted(set(communes["code_commune"]) - set(rings))
    note_missing = (f" Communes sans contour (non dessinées) : {', '.join(missing[:10])}"
                    f"{' …' if len(missing) > 10 else ''}." if missing else "")
    rows = sel.cells(ctx.cube, annee=ctx.year, niveau="commune", famille="ess").set_index("code_territoire")

    def commune_values() -> pd.DataFrame:
        out = communes[["code_commune"]].copy()
        # a commune of the département without a cube row has no active ESS establishment: a known 0
        out["valeur"] = [rows.at[c, "etablissements_pour_1000_hab"] if c in rows.index else 0.0
                         for c in out["code_commune"]]
        out["statut"] = [rows.at[c, "statut_secret_etablissements"] if c in rows.index else None
                         for c in out["code_commune"]]
        out["statut"] = sel.reasons(out["statut"])
        return out

    epci = sel.cells(ctx.cube, annee=ctx.year_effectifs, niveau="epci", famille="ess").set_index("code_territoire")

    def epci_values() -> pd.DataFrame:
        out = communes[["code_commune", "siren_epci"]].copy()
        out["valeur"] = [epci.at[e, "part_effectif_total_central"] if e in epci.index else np.nan
                         for e in out["siren_epci"]]
        out["statut"] = [epci.at[e, "statut_secret_part_effectifs"] if e in epci.index else None
                         for e in out["siren_epci"]]
        out["statut"] = sel.reasons(out["statut"])
        return out[["code_commune", "valeur", "statut"]]

    def of_its_epci(data: pd.DataFrame) -> pd.DataFrame:
        # each commune carries its EPCI's value: the EPCI is named on its row, so that no one reads a commune's share
        by_commune = communes.set_index("code_commune")["siren_epci"]
        codes = [by_commune.get(c) for c in data["code_commune"]]
        data.insert(2, "code_epci", codes)
        labels = {code: _territory_label(row) for code, row in zip(epci.index, epci.reset_index().itertuples())}
        data.insert(3, "nom_epci", [labels.get(e) for e in codes])
        return data

    t1 = f"Établissements de l'ESS pour 1 000 habitants, par commune, au {ctx.date_reference()}"
    t2 = f"Part de l'ESS dans l'emploi salarié (tous employeurs), par EPCI, au {ctx.date_effectifs()}"
    names = dict(zip(communes["code_commune"], communes["nom_commune"]))

    def dated(data: pd.DataFrame, when: str) -> pd.DataFrame:
        data.insert(1, "nom_commune", [names.get(c) for c in data["code_commune"]])
        return data.assign(date_reference=when)

    return [
        ChartSpec("carte_communes_etablissements_1000_hab", t1,
                  lambda ax: dated(maps.choropleth(ax, rings, commune_values(), title=t1, fmt=_fmt_dec,
                                                   legend_title="pour 1 000 hab.", places=places), _iso(ctx.date_reference())),
                  note="Classes : quantiles des communes publiées." + note_missing, kind="map",
                  unit="taux", source=source_counts(ctx)[:-1] + f", {ctx.population_words()} (INSEE) ; contours "
                  "IGN ADMIN EXPRESS simplifiés."),
        ChartSpec("carte_epci_part_emploi", t2,
                  lambda ax: of_its_epci(dated(maps.choropleth(ax, rings, epci_values(), title=t2, fmt=_fmt_pct,
                                                               legend_title="part de l'emploi", cmap="Blues",
                                                               places=places), f"{ctx.year_effectifs}-12-31")),
                  note="Chaque commune prend la valeur de son EPCI (partie dans le département). " + SECRET_NOTE
                  + secret_glossary(ctx, epci["statut_secret_part_effectifs"]) + note_missing, kind="map", unit="part",
                  source=source_employment(ctx)[:-1] + " ; contours IGN ADMIN EXPRESS simplifiés."),
    ]


def _iso(date_fr: str) -> str:
    """'31/10/2026' -> '2026-10-31'."""
    day, month, year = date_fr.split("/")
    return f"{year}-{month}-{day}"


# --- pages --------------------------------------------------------------------------------------------------------
PAGE_TITLE = "titre_de_page"  # gid of a page's title: the contents and the PDF's outline read it back


def page_title(fig: Figure) -> str:
    """The title new_page wrote on a page."""
    return next(t.get_text() for t in fig.texts if t.get_gid() == PAGE_TITLE)


def new_page(ctx: ReportContext, title: str, number: int) -> Figure:
    fig = Figure(figsize=style.A4_PORTRAIT)
    fig.text(0.06, 0.955, title, fontsize=15, fontweight="bold", color="#1b4d3e", va="top", gid=PAGE_TITLE)
    fig.text(0.06, 0.925, f"{ctx.nom_departement} — établissements au {ctx.date_reference()} — emploi salarié au "
             f"{ctx.date_effectifs()} — {ctx.libelle_perimetre}", fontsize=8.5, color="#444444", va="top")
    style.footer(fig, ctx.footer(), number)
    style.stamp(fig, ctx.synthetic)
    return fig


NOTE_SIZE = 8.0  # the smallest type of the report (points)
NOTE_WIDTH = 128  # characters per line of a note at NOTE_SIZE across the page


def note_lines(spec: ChartSpec, width: int = NOTE_WIDTH) -> list[str]:
    """The note under a chart then its source line (each wrapped)."""
    out = style.wrap(spec.note, width) if spec.note else []
    return out + (style.wrap(spec.source, width) if spec.source else [])


def _note(fig, y: float, spec: ChartSpec) -> None:
    fig.text(0.06, y, "\n".join(note_lines(spec)), fontsize=NOTE_SIZE, color="#444444", va="top", linespacing=1.3)


def chart_page(ctx: ReportContext, title: str, specs: list[ChartSpec], number: int) -> tuple[Figure, dict]:
    """Two charts stacked on a page, each with its note and source line; returns the figure and each chart's data."""
    fig = new_page(ctx, title, number)
    drawn = {}
    for k, spec in enumerate(specs):
        top = 0.62 - 0.43 * k  # bottom of the chart's zone
        if spec.kind == "map":
            ax = fig.add_axes((0.04, top - 0.02, 0.60, 0.28))
        elif spec.kind == "line":
            ax = fig.add_axes((0.10, top + 0.08, 0.84, 0.18))
        elif spec.kind == "table":  # from the top of the zone; its note under its last row
            ax = fig.add_axes((0.06, top - 0.10, 0.88, 0.38))
        else:
            ax = fig.add_axes((0.38, top, 0.56, 0.26))
        drawn[spec.name] = spec.draw(ax)
        _note(fig, charts.table_bottom(ax) - 0.02 if spec.kind == "table" else top - 0.045, spec)
    return fig, drawn


def _room_for_legend(fig: Figure, ax, note_inches: float) -> None:
    """Make the figure taller at the bottom when the legend under the axes would run into the note (a line chart of
    many series): the axes and their legend keep their size and their place from the top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    legend = ax.get_legend()
    if legend is None:
        return
    bottom = legend.get_window_extent(FigureCanvasAgg(fig).get_renderer()).y0 / fig.dpi  # inches from the bottom
    width, height = fig.get_size_inches()
    need = 0.01 * height + note_inches + 0.15 - bottom
    if need <= 0:
        return
    pos = ax.get_position()
    fig.set_size_inches(width, height + need)
    ax.set_position([pos.x0, (pos.y0 * height + need) / (height + need), pos.width,
                     pos.height * height / (height + need)])


def chart_figure(ctx: ReportContext, spec: ChartSpec) -> tuple[Figure, pd.DataFrame]:
    """One chart alone, for its PNG, with its note, source and footer below."""
    lines = note_lines(spec, 115) + style.wrap(ctx.footer(), 115)
    if spec.kind == "map":
        fig = Figure(figsize=(8.0, 7.0))
        ax = fig.add_axes((0.03, 0.22, 0.64, 0.68))
    elif spec.kind == "line":
        fig = Figure(figsize=(8.0, 6.0))
        ax = fig.add_axes((0.10, 0.42, 0.86, 0.46))
    elif spec.kind == "table":  # rows of 8-point text (charts.table), the note below
        height = 0.8 + len(lines) * NOTE_SIZE * 1.25 / 72 + 0.35 * (spec.rows + 1)
        fig = Figure(figsize=(8.0, height))
        ax = fig.add_axes((0.03, 0.1, 0.94, 1 - 0.5 / height - 0.1))
    else:
        # the axes' ticks and label take ≈ 0.9 in below them, the text lines the rest: the figure grows with its note
        bottom = 0.9 + len(lines) * NOTE_SIZE * 1.25 / 72
        height = bottom + 0.6 + 0.3 * max(spec.rows, 2)
        fig = Figure(figsize=(8.0, height))
        ax = fig.add_axes((0.40, bottom / height, 0.54, 1 - (bottom + 0.6) / height))
    data = spec.draw(ax)
    _room_for_legend(fig, ax, len(lines) * NOTE_SIZE * 1.25 / 72)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=NOTE_SIZE, color="#555555", va="bottom", linespacing=1.25)
    style.stamp(fig, ctx.synthetic)
    return fig, data
