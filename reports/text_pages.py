"""The text pages of the report: cover with the headline figures, method and caveats, calibration and secret."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from reports import charts, style
from reports.context import ReportContext
from reports.pages import new_page

WIDTH = 118  # characters per line of body text at 8.5 pt on A4 with the page margins


def _value(row, measure: str, status_column: str, fmt) -> str:
    if row is None:
        return style.UNAVAILABLE
    status = row[status_column]
    if isinstance(status, str):
        return style.fmt_secret(status)
    return fmt(row[measure])


def _range(row, low: str, high: str, status_column: str, fmt) -> str:
    if row is None or isinstance(row[status_column], str):
        return ""
    if pd.isna(row[low]) or pd.isna(row[high]):
        return ""
    return f"{fmt(row[low])} – {fmt(row[high])}"


def headline_rows(ctx: ReportContext) -> list[list[str]]:
    """Indicateur, valeur, fourchette for the cover table (strings, secret shown as « s (motif) »)."""
    from reports import selection as sel

    h = sel.headline(ctx.cube, ctx.year)
    ess, ens = h["ess"], h["ensemble"]
    pct = lambda v: style.fmt_percent(v, 1)  # noqa: E731
    return [
        ["Établissements actifs de l'ESS", _value(ess, "nb_etablissements", "statut_secret_etablissements",
                                                  style.fmt_number), ""],
        ["dont établissements employeurs", _value(ess, "nb_etablissements_employeurs",
                                                  "statut_secret_etablissements", style.fmt_number), ""],
        ["Emploi salarié de l'ESS (estimation centrale)", _value(ess, "effectif_central", "statut_secret_effectifs",
                                                                 style.fmt_number),
         _range(ess, "effectif_bas", "effectif_haut", "statut_secret_effectifs", style.fmt_number)],
        ["Part de l'ESS dans l'emploi salarié", _value(ess, "part_ess_effectif_central",
                                                        "statut_secret_part_effectifs", pct),
         _range(ess, "part_ess_effectif_bas", "part_ess_effectif_haut", "statut_secret_part_effectifs", pct)],
        ["Part de l'ESS dans les établissements employeurs", _value(ess, "part_ess_etablissements_employeurs",
                                                                     "statut_secret_part_etablissements", pct), ""],
        ["Établissements de l'ESS pour 1 000 habitants", _value(ess, "etablissements_pour_1000_hab",
                                                                "statut_secret_etablissements",
                                                                lambda v: style.fmt_number(v, 1)), ""],
        ["Ensemble de l'économie : établissements actifs", _value(ens, "nb_etablissements",
                                                                   "statut_secret_etablissements",
                                                                   style.fmt_number), ""],
        ["Ensemble de l'économie : emploi salarié", _value(ens, "effectif_central", "statut_secret_effectifs",
                                                            style.fmt_number),
         _range(ens, "effectif_bas", "effectif_haut", "statut_secret_effectifs", style.fmt_number)],
    ]


def _paragraphs(fig: Figure, y: float, blocks: list[tuple[str, str]], size: float = 8.3) -> float:
    """Headed paragraphs from y downwards; returns the y under the last one."""
    line = size / 72 / style.A4_PORTRAIT[1] * 1.45
    for heading, body in blocks:
        if heading:
            fig.text(0.06, y, heading, fontsize=size + 1.5, fontweight="bold", color="#1b4d3e", va="top")
            y -= line * 1.6
        for paragraph in body.split("\n"):
            wrapped = textwrap.wrap(paragraph, WIDTH) or [""]
            fig.text(0.06, y, "\n".join(wrapped), fontsize=size, va="top", linespacing=1.35)
            y -= line * len(wrapped) + line * 0.45
        y -= line * 0.5
    return y


def cover_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, f"L'économie sociale et solidaire en {ctx.nom_departement}", number)
    p = ctx.params
    fig.text(0.06, 0.89, f"Rapport annuel de l'observatoire de l'ESS — millésime {p['millesime']}", fontsize=11,
             va="top")
    fig.text(0.06, 0.865, f"Département {ctx.nom_departement} ({ctx.departement}) — situation au "
             f"{ctx.date_reference()}", fontsize=9, va="top", color="#444444")
    ax = fig.add_axes((0.06, 0.45, 0.88, 0.37))
    bottom = charts.table(ax, ["Chiffres clés", "Valeur", "Fourchette (basse – haute)"], headline_rows(ctx),
                          title="Chiffres clés du département", fontsize=8.5)
    synthetic = ([("Avertissement", "Ce rapport est produit à partir de l'échantillon SYNTHÉTIQUE généré par "
                   "l'outil : ses chiffres ne décrivent pas la réalité et ne doivent pas être diffusés.")]
                 if ctx.synthetic else [])
    forced = ([("Publication forcée", "Ce rapport a été publié avec l'option --force malgré les garde-fous de "
                "publication : " + " ; ".join(p["publication_forcee"]) + ". Ses chiffres sont à vérifier.")]
              if p.get("publication_forcee") else [])
    _paragraphs(fig, bottom - 0.04, synthetic + forced + [
        ("Périmètre", f"{ctx.libelle_perimetre} (« {p['perimetre']} »), décrit page « Méthode »."),
        ("Sources et dates de référence",
         f"Établissements : répertoire SIRENE de l'INSEE, stock du {ctx.date_reference()} (millésime "
         f"{p['millesime']}). Emploi : tranches d'effectifs salariés de SIRENE, calées sur les effectifs de "
         f"l'URSSAF ({p.get('annee_urssaf') or 'non utilisée'}). Territoires : Code officiel géographique "
         f"{p.get('annee_cog') or ''}.\nDétail des sources du cube : {ctx.sources()}."),
        ("Lecture", "L'emploi est estimé à partir de tranches d'effectifs : chaque chiffre d'emploi est donné avec "
         "une fourchette (somme des bornes basses et hautes des tranches) autour d'une estimation centrale calée "
         "sur l'URSSAF. Les cellules couvertes par le secret statistique sont notées « s » avec leur motif ; "
         "elles ne valent pas zéro."),
    ])
    return fig


def method_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, "Méthode et précautions de lecture", number)
    from transforms.confidentiality import load_rules

    rules = load_rules()
    seuil = rules.frequency_threshold
    dominance = style.fmt_percent(rules.dominance_share, 0)
    protection = (f"{style.fmt_percent(rules.protection_share, 0)} (et {style.fmt_number(rules.protection_minimum)} "
                  "salarié au moins)")
    blocks = [
        ("Périmètre de l'ESS", f"{ctx.libelle_perimetre} : {ctx.description_perimetre.rstrip('. ')}. Les familles (associations, "
         "coopératives, mutuelles, fondations…) sont déterminées par la catégorie juridique de l'unité légale ; "
         "les établissements sont rattachés à leur commune d'implantation (code officiel géographique du "
         "millésime, anciennes communes converties)." + _exclusions_sentence(ctx, seuil)),
        ("Estimation de l'emploi", "SIRENE ne donne pas l'effectif exact d'un établissement mais une tranche "
         "(1 à 2, 3 à 5, … salariés). La borne basse du rapport additionne les bornes basses des tranches, la "
         "borne haute leurs bornes hautes. L'estimation centrale part d'une valeur centrale par tranche, puis est "
         "calée, famille par famille, sur les effectifs salariés publiés par l'URSSAF pour le département (et sur "
         "l'emploi privé total par commune et activité pour le reste de l'économie), sans jamais sortir de la "
         "tranche. Les facteurs de calage figurent page suivante. La part de l'ESS dans l'emploi a elle aussi une "
         "fourchette : borne basse = ESS basse / (ESS basse + reste haut), borne haute = ESS haute / (ESS haute + "
         "reste bas)."),
        ("Secret statistique", f"Les nombres d'établissements viennent d'un répertoire public (SIRENE) : ils sont "
         "publiés partout, comme dans les dénombrements d'établissements de l'INSEE. L'emploi est protégé "
         "(loi n° 51-711 du 7 juin 1951, art. 6, règles de l'INSEE) : aucun effectif n'est publié pour une cellule "
         f"de moins de {seuil} unités légales (règle de fréquence, même si l'effectif est nul) ni si une seule unité "
         f"légale y apporte plus de {dominance} de l'effectif, pour chacune des bornes publiées (règle de "
         "dominance). D'autres cellules sont masquées (secret secondaire) pour qu'aucune valeur masquée ne puisse "
         "être recalculée, ni encadrée à moins de " + protection + " près, à partir de l'ensemble des chiffres "
         "publiés — tous périmètres, territoires, familles, secteurs et tailles, en tenant compte de ce que les "
         "effectifs ne sont jamais négatifs ; un audit par programmation linéaire le vérifie avant chaque "
         "publication. L'emploi par secteur et par taille n'est publié qu'au niveau du département. Une valeur "
         "masquée est notée « s » avec son motif ; elle n'est jamais représentée par un zéro. Une part est masquée "
         "si sa cellule ou le total de l'économie correspondant l'est. Aucun établissement n'apparaît "
         "individuellement."),
        ("Évolution depuis 2012", "Les séries annuelles comptent les établissements actifs au 1er janvier de "
         "chaque année d'après l'historique de SIRENE, avec le périmètre et la géographie actuels. L'historique "
         "ne conserve pas les tranches d'effectifs : l'emploi des années passées n'est pas estimé (« n.d. ») ; la "
         "série d'emploi provient directement de l'URSSAF."),
        ("Limites", "Les unités en diffusion partielle de SIRENE sont comptées comme les autres, sous les mêmes "
         "règles de secret ; aucune donnée individuelle n'est publiée. Les salariés agricoles (MSA) et les employeurs publics sont hors du champ de l'URSSAF : "
         "le calage ne les concerne pas. Les tranches d'effectifs de SIRENE peuvent dater de plusieurs années. "
         "Les EPCI qui débordent du département ne sont comptés que pour leur partie dans le département. Les "
         "contours communaux des cartes sont simplifiés (IGN ADMIN EXPRESS, Licence Ouverte)."),
    ]
    if ctx.synthetic:
        blocks.insert(0, ("Données synthétiques", "Toutes les valeurs de ce rapport proviennent d'un échantillon "
                          "généré : « " + style.SYNTHETIC_MENTION + " »."))
    _paragraphs(fig, 0.89, blocks)
    return fig


def _exclusions_sentence(ctx: ReportContext, seuil: int) -> str:
    """Number of establishments taken out by the active NAF exclusions, under the frequency rule."""
    audit = ctx.audit
    if audit is None or "regle_active" not in audit.columns:
        return ""
    rows = audit[(audit["rubrique"] == "exclusion_naf") & (audit["perimetre"] == ctx.params["perimetre"])
                 & (audit["regle_active"] == True)]  # noqa: E712 (nullable boolean column)
    if rows.empty:
        return ""
    n = int(rows["nb_etablissements"].fillna(0).sum())
    shown = style.fmt_number(n)  # a count of establishments: public (METHOD.md § 6)
    return (f" Les activités exclues du périmètre (règles d'exclusion par code NAF actives) en retirent {shown} "
            "établissements du département.")


CALIBRATION_ORDER = ("associations", "cooperatives", "mutuelles", "fondations", "autres_organismes",
                     "societes_commerciales_ess", "hors_ess", "hors_champ_urssaf", "ensemble")


def calibration_rows(ctx: ReportContext) -> list[list[str]]:
    """Famille, année URSSAF, cible, facteur, statut: département-wide figures, no establishment count."""
    cal = ctx.calibration
    if cal is None or cal.empty:
        return []
    rank = {f: i for i, f in enumerate(CALIBRATION_ORDER)}
    cal = cal.sort_values("famille", key=lambda s: s.map(lambda f: rank.get(f, len(rank))), kind="stable")
    out = []
    for r in cal.to_dict("records"):
        year = r.get("annee_cible")
        out.append([style.label("famille", r["famille"]),
                    str(int(year)) if year is not None and pd.notna(year) else "",
                    style.fmt_number(r.get("cible_urssaf")),
                    style.fmt_number(r["facteur"], 3) if pd.notna(r["facteur"]) else "—",
                    style.label("calage", r["statut"])])
    return out


def secret_rows(ctx: ReportContext) -> list[list[str]]:
    """Per geographic level (millésime year, run's perimeter): cells, and employment cells masked by reason."""
    cur = ctx.current
    out = []
    for niveau in ("departement", "territoire", "arrondissement", "zone_emploi", "epci", "commune"):
        rows = cur[cur["niveau"] == niveau]
        if rows.empty:
            continue
        eff = rows["statut_secret_effectifs"].value_counts()
        out.append([style.label("niveau", niveau), style.fmt_number(len(rows))]
                   + [style.fmt_number(eff.get(r, 0)) for r in ("frequence", "dominance", "secondaire",
                                                                "non_diffuse")])
    return out


SECRET_HEADER = ["Niveau", "Cellules", "Emploi\nfréquence", "Emploi\ndominance", "Emploi\nsecondaire",
                 "Emploi\nnon diffusé"]


def tables_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, "Calage de l'emploi et secret statistique", number)
    ax = fig.add_axes((0.06, 0.50, 0.88, 0.38))
    bottom = charts.table(ax, ["Famille", "Année URSSAF", "Cible URSSAF", "Facteur", "Statut"],
                          calibration_rows(ctx), title="Calage des effectifs centraux sur l'URSSAF")
    fig.text(0.06, bottom - 0.01, "\n".join(textwrap.wrap(
        "Facteur : coefficient appliqué aux effectifs centraux des établissements restés dans leur tranche. Les "
        "familles sans cible URSSAF (autres organismes, sociétés commerciales de l'ESS) sont calées avec le reste "
        "de l'économie. Quand la cible sort de la fourchette des tranches (« cible au-dessus / au-dessous des "
        "tranches »), les effectifs sont laissés à la borne haute / basse de leur tranche.", WIDTH)), fontsize=7, va="top",
             color="#444444")
    top = min(bottom - 0.10, 0.55)
    ax = fig.add_axes((0.06, 0.08, 0.88, top - 0.08))
    bottom = charts.table(ax, SECRET_HEADER, secret_rows(ctx), title=f"Cellules masquées au titre du secret statistique ({ctx.year})")
    fig.text(0.06, bottom - 0.01, "\n".join(textwrap.wrap(
        "Nombre de cellules du cube public (toutes familles, secteurs et tailles) de l'année du millésime, et "
        "cellules dont l'emploi est masqué, par motif (fréquence, dominance, secret secondaire) ou non diffusé à "
        "ce niveau (emploi par secteur ou taille : département seulement). Les nombres d'établissements ne sont "
        "jamais masqués.", WIDTH)), fontsize=7, va="top", color="#444444")
    return fig
