"""The pages an elected official reads first or looks up: key messages, territories and sectors in numbers, the
comparison with the rest of the private economy (URSSAF), and what open data cannot tell."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from reports import charts, coverage, messages, style, text_pages, urssaf_compare
from reports import selection as sel
from reports.context import ReportContext
from reports.pages import (ChartSpec, _territory_label, new_page, note_lines, secret_glossary, source_counts,
                           source_employment, source_urssaf, territory_level, territory_note)

TEXT_WIDTH = 112  # characters per line of 8.5 pt body text


def _text(fig: Figure, y: float, text: str, *, size: float = 8.5, width: int = TEXT_WIDTH, color="#222222",
          bold=False) -> float:
    """Wrapped text from y downwards; returns the y under it."""
    lines = style.wrap(text, width) or [""]
    fig.text(0.06, y, "\n".join(lines), fontsize=size, va="top", color=color, linespacing=1.3,
             fontweight="bold" if bold else "normal")
    return y - len(lines) * size * 1.3 / 72 / style.A4_PORTRAIT[1] - 0.008


# --- key messages -------------------------------------------------------------------------------------------------
def messages_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, f"L'essentiel : l'ESS en {ctx.nom_departement}", number)
    y = 0.88
    for message in messages.key_messages(ctx):
        fig.text(0.06, y, message.figure, fontsize=20, fontweight="bold", color=style.COLORS["ess"], va="top")
        lines = style.wrap(message.text, 66)
        fig.text(0.32, y - 0.002, "\n".join(lines), fontsize=10, va="top", linespacing=1.3)
        y -= max(0.045, len(lines) * 10 * 1.3 / 72 / style.A4_PORTRAIT[1]) + 0.03
    y -= 0.01
    if ctx.synthetic:
        y = _text(fig, y, "Ces chiffres sont calculés sur l'échantillon synthétique de l'outil : ils ne décrivent "
                  "pas la réalité.", color="#c0392b", bold=True)
    y = _text(fig, y, "Les établissements sont comptés à la date du répertoire SIRENE, l'emploi salarié au 31 "
              "décembre de l'année d'emploi la plus récente. Un intervalle à 90 % est " + coverage.NOMINAL
              + " ; entre parenthèses, son épreuve en simulation. Le détail des sources et de la méthode figure "
              "en fin de rapport.", color="#444444")
    fig.ess_free_top = y  # where contents() starts, once the other pages are drawn
    return fig


CONTENTS_SIZE = 8.5
CONTENTS_BOTTOM = 0.06  # above the footer


def contents(fig: Figure, ctx: ReportContext, entries: list[tuple[str, int]]) -> None:
    """The « Sommaire » at the bottom of the key messages page: the edition date, then each (title, page number)
    in columns (two, or three when two would run into the footer)."""
    top = getattr(fig, "ess_free_top", 0.3) - 0.025
    line = CONTENTS_SIZE * 1.55 / 72 / style.A4_PORTRAIT[1]
    fig.text(0.06, top, "Sommaire", fontsize=10.5, fontweight="bold", color="#1b4d3e", va="top", gid="sommaire")
    fig.text(0.94, top, f"Édition du {style.fmt_day(ctx.edition_date())}", fontsize=CONTENTS_SIZE, ha="right",
             va="top", color="#444444")
    top -= 1.9 * line
    columns = 2 if top - CONTENTS_BOTTOM >= -(-len(entries) // 2) * line else 3
    rows = -(-len(entries) // columns)
    width = 0.88 / columns
    for k, (title, number) in enumerate(entries):
        x, y = 0.06 + width * (k // rows), top - line * (k % rows)
        room = (width - 0.09) * style.A4_PORTRAIT[0] * 72
        shown = title
        while style.text_width(shown, CONTENTS_SIZE) > room and len(shown) > 4:
            shown = shown[:-2].rstrip() + "…"
        fig.text(x, y, shown, fontsize=CONTENTS_SIZE, va="top", gid="sommaire_titre")
        fig.text(x + width - 0.05, y, str(number), fontsize=CONTENTS_SIZE, va="top", ha="right",
                 gid="sommaire_page")


# --- territories and sectors in numbers ---------------------------------------------------------------------------
def _cell(row, measure: str, fmt) -> str:
    """A figure of a table, or « s (motif) » when it is withheld (the motifs explained under the table)."""
    status = row[sel.STATUS_OF[measure]]
    if sel.withheld(status):
        return style.label("secret_court", status)
    return fmt(row[measure]) if pd.notna(row[measure]) else style.UNAVAILABLE


def _bounds(row, measure: str, fmt) -> str:
    low, high = sel.RANGE_OF[measure]
    if row[sel.STATUS_OF[measure]] != sel.PUBLIE or pd.isna(row[low]) or pd.isna(row[high]):
        return ""
    return f"{fmt(row[low])} – {fmt(row[high])}"


def territory_table(ctx: ReportContext) -> list[list[str]]:
    """Per territory (largest ESS employment first, unknown placement last): ESS establishments and employers at the
    millésime date, ESS employment with its interval and the ESS share of employment on 31/12 of the employment
    year."""
    counts, jobs = _territory_cells(ctx)
    codes = sorted(set(counts.index) | set(jobs.index),
                   key=lambda c: (c == "non_renseigne", -_number(jobs, c, "effectif_central"), c))
    pct = lambda v: style.fmt_percent(v, 1)  # noqa: E731
    rows = []
    for code in codes:
        c = counts.loc[code] if code in counts.index else None
        j = jobs.loc[code] if code in jobs.index else None
        label = _territory_label(_Row(code, c if c is not None else j))
        rows.append([label,
                     _cell(c, "nb_etablissements", style.fmt_number) if c is not None else style.UNAVAILABLE,
                     _cell(c, "nb_etablissements_employeurs", style.fmt_number) if c is not None
                     else style.UNAVAILABLE,
                     _cell(j, "effectif_central", style.fmt_estimate) if j is not None else style.UNAVAILABLE,
                     _bounds(j, "effectif_central", style.fmt_estimate) if j is not None else "",
                     _cell(j, "part_effectif_total_central", pct) if j is not None else style.UNAVAILABLE,
                     _bounds(j, "part_effectif_total_central", pct) if j is not None else ""])
    return rows


def _territory_cells(ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ESS rows of the report's territories, by code: counts of the millésime, employment of its year."""
    niveau = territory_level(ctx)
    counts = sel.cells(ctx.cube, annee=ctx.year, niveau=niveau, famille="ess").set_index("code_territoire")
    jobs = sel.cells(ctx.cube, annee=ctx.year_effectifs, niveau=niveau, famille="ess").set_index("code_territoire")
    return counts, jobs


def territory_glossary(ctx: ReportContext) -> str:
    """The masking reasons the territory table shows, in words."""
    counts, jobs = _territory_cells(ctx)
    return secret_glossary(ctx, pd.concat([counts["statut_secret_etablissements"],
                                           jobs["statut_secret_effectifs"], jobs["statut_secret_part_effectifs"]]))


class _Row:
    """Attribute access to a row for _territory_label."""

    def __init__(self, code: str, row: pd.Series):
        self.code_territoire = code
        self.libelle_territoire = row.get("libelle_territoire")
        self.epci_partiel = row.get("epci_partiel")


def _number(frame: pd.DataFrame, code, measure: str) -> float:
    if code not in frame.index:
        return -1.0
    value = frame.at[code, measure]
    return float(value) if pd.notna(value) else -1.0


def sector_table(ctx: ReportContext, top: int = 10) -> list[list[str]]:
    """The département's ESS sectors with the most ESS jobs on 31/12 of the employment year (published cells only;
    a masked sector is not ranked), with the interval and the ESS share of the sector's employment."""
    if ctx.year_effectifs is None:
        return []
    rows = sel.cells(ctx.cube, annee=ctx.year_effectifs, famille="ess", nomenclature="ess", secteur=None)
    rows = rows[(rows["secteur"] != "ensemble") & (rows["secteur"] != "non_renseigne")
                & (rows["statut_secret_effectifs"] == sel.PUBLIE) & rows["effectif_central"].notna()]
    rows = rows.sort_values(["effectif_central", "secteur"], ascending=[False, True]).head(top)
    pct = lambda v: style.fmt_percent(v, 1)  # noqa: E731
    return [[r["libelle_secteur"] if isinstance(r["libelle_secteur"], str) else r["secteur"],
             _cell(r, "effectif_central", style.fmt_estimate), _bounds(r, "effectif_central", style.fmt_estimate),
             _cell(r, "part_effectif_total_central", pct), _bounds(r, "part_effectif_total_central", pct)]
            for _, r in rows.iterrows()]


def numbers_page(ctx: ReportContext, number: int) -> Figure:
    niveau = territory_level(ctx)
    nom = ctx.niveau(niveau).par
    fig = new_page(ctx, "Les territoires et les secteurs en chiffres", number)
    au, au_e = ctx.date_reference(), ctx.date_effectifs()
    ax = fig.add_axes((0.06, 0.50, 0.88, 0.38))
    bottom = charts.table(ax, ["Territoire", "Établissements\nde l'ESS", "dont\nemployeurs", "Salariés\nde l'ESS",
                               "Intervalle\nà 90 %", "Part de l'ESS\ndans l'emploi", "Intervalle\nà 90 %"],
                          territory_table(ctx), fontsize=8.0, first_column_width=18,
                          title=f"Par {nom} : établissements au {au}, emploi salarié au {au_e}")
    y = _text(fig, bottom - 0.02, territory_note(ctx) + ctx.employers_caveat() + " Part de l'ESS dans l'emploi "
              "salarié de tous les employeurs (publics compris). Chaque intervalle à 90 % est " + coverage.NOMINAL
              + " ; "
              + coverage.territories_tested(ctx.coverage, niveau) + " " + coverage.SEE_METHOD + ". "
              "« s » : secret statistique, avec son motif ; "
              "« n.d. » : non publié." + territory_glossary(ctx) + " " + source_employment(ctx) + " "
              + source_counts(ctx), size=8, width=120, color="#444444")
    ax = fig.add_axes((0.06, 0.06, 0.88, y - 0.09))
    bottom = charts.table(ax, ["Secteur d'activité", "Salariés\nde l'ESS", "Intervalle\nà 90 %",
                               "Part de l'ESS dans\nl'emploi du secteur", "Intervalle\nà 90 %"], sector_table(ctx),
                          title=f"Les secteurs qui emploient le plus de salariés de l'ESS (département), au {au_e}",
                          fontsize=8.0, first_column_width=45)
    _text(fig, bottom - 0.02, "Secteurs de l'ESS (regroupements d'activités NAF) ; un secteur dont l'emploi est "
          "couvert par le secret statistique n'est pas classé. " + source_employment(ctx), size=8, width=120,
          color="#444444")
    return fig


# --- comparison with the rest of the private economy (URSSAF) -----------------------------------------------------
def comparison_spec(ctx: ReportContext) -> ChartSpec | None:
    frame = urssaf_compare.yearly(ctx.urssaf_rows)
    frame = frame[frame["indice_ess"].notna() | frame["indice_hors_ess"].notna()]
    if len(frame) < 2:
        return None
    base = urssaf_compare.base_year(frame)
    values = frame.set_index("annee")[["indice_ess", "indice_hors_ess"]]
    names = {"indice_ess": "ESS", "indice_hors_ess": "Reste de l'économie privée (hors ESS)"}
    title = f"Emploi salarié privé, indice base 100 en {base} : ESS et reste de l'économie"

    def draw(ax):
        data = charts.lines(ax, values, None, title=title, fmt=lambda v: style.fmt_number(v, 0),
                            ylabel=f"indice (100 en {base})", colors={"indice_ess": style.COLORS["ess"],
                                                                     "indice_hors_ess": style.COLORS["hors_ess"]},
                            labels=lambda c: names[c])
        ax.set_ylim(bottom=max(0.0, float(values.min().min()) - 10))
        data["date_reference"] = [f"{y} (moyenne annuelle)" for y in data["annee"]]
        return data
    note = (f"Effectifs salariés moyens de l'année publiés par l'URSSAF pour le département, rapportés à leur niveau "
            f"de {base} (= 100) : une courbe au-dessus de l'autre signifie une croissance plus forte depuis {base}.")
    return ChartSpec("comparaison_indice_emploi_urssaf", title, draw, note=note, kind="line", unit="indice",
                     source=source_urssaf())


def comparison_rows(ctx: ReportContext) -> list[list[str]]:
    frame = urssaf_compare.yearly(ctx.urssaf_rows)
    if frame.empty:
        return []
    years = frame["annee"].tolist()
    shown = sorted({years[0], *years[-3:]}) if len(years) > 3 else years
    out = []
    euros = lambda v: style.fmt_number(v) + style.NBSP + "€"  # noqa: E731
    for y in shown:
        r = frame[frame["annee"] == y].iloc[0]
        out.append([str(y), _fmt(r["effectifs_salaries_ess"], style.fmt_number),
                    _fmt(r["effectifs_salaries_hors_ess"], style.fmt_number),
                    _fmt(r["part_ess_emploi_prive"], lambda v: style.fmt_percent(v, 1)),
                    _fmt(r["salaire_moyen_ess"], euros), _fmt(r["salaire_moyen_hors_ess"], euros)])
    return out


def _fmt(value, fmt) -> str:
    return fmt(value) if pd.notna(value) else style.UNAVAILABLE


def comparison_page(ctx: ReportContext, spec: ChartSpec | None, number: int) -> tuple[Figure, dict]:
    fig = new_page(ctx, "L'ESS et le reste de l'économie privée (URSSAF)", number)
    drawn = {}
    y = 0.89
    if spec is not None:
        ax = fig.add_axes((0.10, 0.68, 0.84, 0.19))
        drawn[spec.name] = spec.draw(ax)
        fig.text(0.06, 0.60, "\n".join(note_lines(spec)), fontsize=8, color="#444444", va="top", linespacing=1.3)
        y = 0.52
    ax = fig.add_axes((0.06, 0.20, 0.88, y - 0.20))
    bottom = charts.table(ax, ["Année", "Salariés ESS\n(moyenne)", "Salariés hors ESS\n(moyenne)",
                               "Part de l'ESS\n(moyenne annuelle)", "Salaire moyen\nannuel ESS",
                               "Salaire moyen\nannuel hors ESS"], comparison_rows(ctx),
                          title="Emploi privé et salaire moyen : ESS et hors ESS (URSSAF)", fontsize=8.0)
    y = _text(fig, bottom - 0.02, "Effectif salarié moyen de l'année (moyenne des quatre trimestres) ; salaire "
              "moyen annuel = masse salariale brute de l'année divisée par l'effectif moyen (il dépend du temps "
              "partiel, plus fréquent dans l'ESS : ce n'est pas un salaire à temps plein). Champ privé du régime "
              "général : l'emploi public et les salariés agricoles (MSA) n'y sont pas. La part de l'ESS y est celle de "
              "l'effectif moyen de l'année publié par l'URSSAF, non l'estimation de l'observatoire au 31/12 (pages "
              "précédentes) : les deux peuvent différer de quelques dixièmes de point. « n.d. » : non publié. "
              "Ces chiffres, famille par famille, sont publiés dans l'entrepôt de l'observatoire. "
              + source_urssaf(), size=8, width=120, color="#444444")
    rows, first, last = urssaf_compare.territories(ctx.urssaf_comparaison)
    if rows.empty:
        _text(fig, y - 0.01, "Comparaison avec la région et la France : le fichier de l'URSSAF couvre tous les "
              "départements, mais ce rapport n'a pas reçu leurs lignes ; ces comparaisons ne sont donc pas "
              "présentées dans cette édition.", size=8.5, width=115)
        return fig, drawn
    ax = fig.add_axes((0.06, 0.06, 0.88, y - 0.02 - 0.06))
    bottom = charts.table(ax, ["Territoire", "Part de l'ESS\n(moyenne\nannuelle)", "Évolution\nESS",
                               "Évolution\nhors ESS", "Salaire\nmoyen\nannuel ESS", "Salaire\nmoyen annuel\nhors ESS"],
                          comparison_territory_rows(rows), fontsize=8.0, first_column_width=36,
                          title=f"Le département, sa région et la France, en {last} (URSSAF ; évolution depuis {first})")
    _text(fig, bottom - 0.02, "Mêmes définitions que le tableau précédent, sommées sur les départements de la "
          "région et de la France. La région et la France ne sont chiffrées que si le fichier de l'URSSAF contient "
          "tous leurs départements, et un total dont une partie n'est pas publiée n'est pas calculé : sinon, "
          "« n.d. ». Évolution : effectif moyen de la dernière année rapporté à celui de la "
          "première. " + source_urssaf(), size=8, width=120, color="#444444")
    return fig, drawn


def comparison_territory_rows(rows: pd.DataFrame) -> list[list[str]]:
    euros = lambda v: style.fmt_number(v) + style.NBSP + "€"  # noqa: E731
    pct = lambda v: style.fmt_percent(v, 1)  # noqa: E731
    return [[r["libelle"], _fmt(r["part_ess_emploi_prive"], pct), _fmt(r["evolution_ess"], messages.signed_pct),
             _fmt(r["evolution_hors_ess"], messages.signed_pct), _fmt(r["salaire_moyen_ess"], euros),
             _fmt(r["salaire_moyen_hors_ess"], euros)] for _, r in rows.iterrows()]


# --- what open data cannot tell -----------------------------------------------------------------------------------
LIMITS = [
    ("Les femmes et les hommes, l'âge, les contrats",
     "Les fichiers ouverts utilisés (répertoire SIRENE, effectifs de l'URSSAF) ne disent rien du sexe, de l'âge, "
     "du type de contrat (CDI, CDD, contrats aidés), du temps de travail ni des qualifications des salariés. Ces "
     "informations existent dans les déclarations sociales nominatives, exploitées par l'INSEE (base « Tous "
     "salariés ») et diffusées par ESS France et les CRESS, mais pas en données ouvertes à ce niveau de détail."),
    ("Les salaires sous le département",
     "La masse salariale n'est publiée par l'URSSAF qu'au niveau du département : aucun salaire moyen n'est "
     "calculable pour un territoire, un EPCI ou une commune. Le salaire moyen par salarié ne distingue pas le temps "
     "partiel du temps plein."),
    ("Les bénévoles et les volontaires",
     "Le travail bénévole, les volontaires en service civique et les dirigeants non salariés ne figurent dans aucun "
     "de ces fichiers ; le poids de l'ESS mesuré ici est celui de l'emploi salarié."),
    ("Les employeurs hors du champ de l'URSSAF",
     "Les salariés agricoles (régime de la MSA) et les employeurs publics ne sont pas dans les fichiers de l'URSSAF : "
     "leur emploi est estimé à partir des seules tranches d'effectifs de SIRENE, sans calage, donc plus "
     "incertain. Les séries de l'URSSAF (pages d'évolution et de comparaison) ne les comptent pas."),
    ("L'emploi exact de chaque établissement",
     "SIRENE ne donne qu'une tranche d'effectifs par établissement, souvent ancienne ; l'emploi est donc estimé, "
     "avec un intervalle à 90 % (sa couverture mesurée : page « Méthode »). L'emploi des années passées est "
     "publié pour les territoires au-dessus de la commune, sans détail par secteur ni par taille."),
    ("L'activité économique",
     "Ni le chiffre d'affaires, ni les budgets, ni les subventions des structures de l'ESS ne sont dans ces "
     "données ; les secteurs sont ceux du code d'activité principal (NAF) déclaré à l'INSEE."),
]


def limits_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, "Ce que les données ouvertes ne disent pas", number)
    y = 0.88
    for heading, body in LIMITS + [text_pages.method_limits(ctx)]:
        y = _text(fig, y, heading, size=10, bold=True, color="#1b4d3e")
        y = _text(fig, y, body) - 0.012
    return fig
