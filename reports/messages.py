"""The key messages of the report's first page, generated from the published figures: each one a figure, the date
it measures, its 90 % interval when it is an estimate, and one sentence. A figure under secrecy is said to be so;
an unpublished one is left out (never replaced by a guess)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports import coverage
from reports import selection as sel
from reports import style, urssaf_compare
from reports.context import ReportContext

# what the interval was designed for is said under the messages (synthesis_pages.messages_page); each message
# says what it did when put to the test (reports/coverage.py)
INTERVAL_WORDS = "intervalle à 90 % : entre {low} et {high} ; {tested}"


@dataclass
class Message:
    key: str
    figure: str  # the figure printed large
    text: str  # the sentence, with its date and, for an estimate, its interval in words


def _published(row, measure: str) -> bool:
    return row is not None and pd.notna(row[measure]) and row[sel.STATUS_OF[measure]] == sel.PUBLIE


def _interval(row, low: str, high: str, fmt, tested: str) -> str:
    if pd.isna(row[low]) or pd.isna(row[high]):
        return ""
    return " (" + INTERVAL_WORDS.format(low=fmt(row[low]), high=fmt(row[high]), tested=tested) + ")"


def _pct(v) -> str:
    return style.fmt_percent(v, 1)


def key_messages(ctx: ReportContext) -> list[Message]:
    out: list[Message] = []
    h = sel.headline(ctx.cube, ctx.year)
    ess = h["ess"]
    au = ctx.date_reference()
    if _published(ess, "nb_etablissements"):
        employers = ""
        if _published(ess, "nb_etablissements_employeurs") and ess["nb_etablissements"] > 0:
            employers = (f", dont {style.fmt_number(ess['nb_etablissements_employeurs'])} "
                         f"{ctx.employers_words()}, soit "
                         f"{_pct(ess['nb_etablissements_employeurs'] / ess['nb_etablissements'])} des établissements "
                         "de l'ESS")
        out.append(Message("etablissements", style.fmt_number(ess["nb_etablissements"]),
                           f"établissements de l'ESS actifs au {au}{employers}."))
    if ctx.year_effectifs is not None:
        e = sel.headline(ctx.cube, ctx.year_effectifs)["ess"]
        au_e = ctx.date_effectifs()
        if _published(e, "effectif_central"):
            out.append(Message("emploi", style.fmt_estimate(e["effectif_central"]),
                               f"salariés dans l'ESS au {au_e}, estimation centrale arrondie"
                               + _interval(e, "effectif_ic90_bas", "effectif_ic90_haut", style.fmt_estimate,
                                           coverage.short_tested(ctx.coverage, "emploi_ess")) + "."))
        elif e is not None and sel.withheld(e["statut_secret_effectifs"]):
            out.append(Message("emploi", style.SUPPRESSED, f"emploi salarié de l'ESS au {au_e} : couvert par le "
                               f"secret statistique ({style.label('secret', e['statut_secret_effectifs'])})."))
        if _published(e, "part_effectif_total_central"):
            prive = (f" ; {_pct(e['part_effectif_prive_central'])} de l'emploi salarié privé"
                     if _published(e, "part_effectif_prive_central") else "")
            out.append(Message("part", _pct(e["part_effectif_total_central"]),
                               f"de l'emploi salarié du département est dans l'ESS au {au_e}, tous employeurs "
                               "publics et privés"
                               + _interval(e, "part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut", _pct,
                                           coverage.short_tested(ctx.coverage, "part_total"))
                               + prive + "."))
        out += _territory_extremes(ctx)
    out += _establishment_evolution(ctx)
    out += _urssaf_evolution(ctx)
    return out


def _territory_extremes(ctx: ReportContext) -> list[Message]:
    from reports.pages import territory_level, _territory_label

    niveau = territory_level(ctx)
    rows = sel.cells(ctx.cube, annee=ctx.year_effectifs, niveau=niveau, famille="ess")
    rows = rows[(rows["code_territoire"] != "non_renseigne")
                & (rows["statut_secret_part_effectifs"] == sel.PUBLIE) & rows["part_effectif_total_central"].notna()]
    if len(rows) < 2:
        return []
    rows = rows.sort_values(["part_effectif_total_central", "code_territoire"], ascending=[False, True])
    top, bottom = rows.iloc[0], rows.iloc[-1]
    nom = ctx.niveau(niveau).par
    hidden = int((sel.cells(ctx.cube, annee=ctx.year_effectifs, niveau=niveau, famille="ess")
                  ["statut_secret_part_effectifs"].map(sel.withheld)).sum())
    approx = (f" {ctx.niveau(niveau).libelle} reconstitués à partir des intercommunalités (approximation)."
              if ctx.territoires_approches else "")
    secret = ""
    if hidden:
        many = hidden > 1
        name = ctx.niveau(niveau).libelle[:1].lower() + ctx.niveau(niveau).libelle[1:] if many else nom
        secret = (f" {hidden}{style.NBSP}{name}, sous secret statistique, ne figure{'nt' if many else ''} pas dans "
                  "ce classement.")

    def share(row) -> str:
        low, high = row["part_effectif_total_ic90_bas"], row["part_effectif_total_ic90_haut"]
        bounds = f", entre {_pct(low)} et {_pct(high)} à 90 %" if pd.notna(low) and pd.notna(high) else ""
        return f"{_pct(row['part_effectif_total_central'])}{bounds}"
    return [Message("territoires", f"{_pct(top['part_effectif_total_central'])}",
                    f"part de l'ESS dans l'emploi salarié au {ctx.date_effectifs()} du {nom} où elle est la plus "
                    f"forte : {_territory_label(top)} ({share(top)}) ; la plus faible : {_territory_label(bottom)} "
                    f"({share(bottom)}).{approx}{secret}")]


def _establishment_evolution(ctx: ReportContext) -> list[Message]:
    """The change of the ESS establishments between two year ends (the first and the last counted on 31 December:
    like with like), then the count at the millésime date."""
    rows = sel.cells(ctx.cube, famille="ess").sort_values("annee")
    rows = rows[rows["nb_etablissements"].notna() & (rows["statut_secret_etablissements"] == sel.PUBLIE)]
    if len(rows) < 2 or int(rows["annee"].iloc[-1]) != ctx.year:
        return []
    year_ends = rows[rows["annee"] < ctx.year]
    if len(year_ends) < 2 or not year_ends["nb_etablissements"].iloc[0]:
        return []
    first, last, now = year_ends.iloc[0], year_ends.iloc[-1], rows.iloc[-1]
    change = last["nb_etablissements"] / first["nb_etablissements"] - 1
    return [Message("evolution_etablissements", signed_pct(change),
                    f"d'établissements de l'ESS actifs entre le {_day(first)} "
                    f"({style.fmt_number(first['nb_etablissements'])}) et le {_day(last)} "
                    f"({style.fmt_number(last['nb_etablissements'])}) ; "
                    f"{style.fmt_number(now['nb_etablissements'])} au {ctx.date_reference()}.")]


def _day(row) -> str:
    """The date a row's establishments are counted at, « 31/12/2012 »."""
    return pd.Timestamp(row["date_reference_etablissements"]).strftime("%d/%m/%Y")


def _urssaf_evolution(ctx: ReportContext) -> list[Message]:
    frame = urssaf_compare.yearly(ctx.urssaf_rows)
    frame = frame[frame["indice_ess"].notna() & frame["indice_hors_ess"].notna()]
    if len(frame) < 2:
        return []
    first, last = frame.iloc[0], frame.iloc[-1]
    return [Message("evolution_urssaf", signed_pct(last["indice_ess"] / 100 - 1),
                    f"d'emploi salarié privé dans l'ESS entre {int(first['annee'])} et {int(last['annee'])} selon "
                    f"l'URSSAF (effectifs moyens annuels), contre {signed_pct(last['indice_hors_ess'] / 100 - 1)} "
                    "pour le reste de l'économie privée.")]


signed_pct = style.signed_pct
