"""The text pages of the report: cover with the headline figures, method and caveats, calibration and secret."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from reports import charts, coverage, style
from reports import selection as sel
from reports.context import ReportContext
from reports.pages import new_page

WIDTH = 118  # characters per line of body text at 8.5 pt on A4 with the page margins


def _value(row, measure: str, status_column: str, fmt) -> str:
    if row is None:
        return style.UNAVAILABLE
    status = row[status_column]
    if sel.withheld(status):
        return style.fmt_secret(status)
    return fmt(row[measure])


def _range(row, low: str, high: str, status_column: str, fmt) -> str:
    if row is None or row[status_column] != sel.PUBLIE:
        return ""
    if pd.isna(row[low]) or pd.isna(row[high]):
        return ""
    return f"{fmt(row[low])} – {fmt(row[high])}"


def headline_rows(ctx: ReportContext) -> list[list[str]]:
    """Indicateur (with the date it measures), valeur, intervalle à 90 % for the cover table (strings, secret shown as
    « s (motif) »): establishments at the millésime date, employment and its shares on 31 December of the employment
    year."""
    h = sel.headline(ctx.cube, ctx.year)
    ess, ens = h["ess"], h["ensemble"]
    e = sel.headline(ctx.cube, ctx.year_effectifs) if ctx.year_effectifs else {"ess": None, "ensemble": None}
    ess_e, ens_e = e["ess"], e["ensemble"]
    au, au_e = f"au {ctx.date_reference()}", f"au {ctx.date_effectifs()}"
    pct = lambda v: style.fmt_percent(v, 1)  # noqa: E731
    jobs, share = "statut_secret_effectifs", "statut_secret_part_effectifs"
    private = "statut_secret_part_effectifs_prive"
    return [
        [f"Établissements actifs de l'ESS, {au}", _value(ess, "nb_etablissements", "statut_secret_etablissements",
                                                        style.fmt_number), ""],
        [f"dont {ctx.employers_words()}", _value(ess, "nb_etablissements_employeurs",
                                                  "statut_secret_etablissements", style.fmt_number), ""],
        ["Part des établissements de l'ESS qui sont employeurs (même définition)",
         _value(ess, "nb_etablissements_employeurs", "statut_secret_etablissements",
                lambda v: pct(v / ess["nb_etablissements"]) if ess["nb_etablissements"] else style.UNAVAILABLE), ""],
        ["Part de l'ESS parmi les établissements employeurs du département (même définition)",
         _value(ess, "part_ess_etablissements_employeurs", "statut_secret_part_etablissements", pct), ""],
        [f"Emploi salarié de l'ESS (estimation centrale), {au_e}",
         _value(ess_e, "effectif_central", jobs, style.fmt_estimate),
         _range(ess_e, "effectif_ic90_bas", "effectif_ic90_haut", jobs, style.fmt_estimate)],
        [f"Part de l'ESS dans l'emploi salarié (tous employeurs), {au_e}",
         _value(ess_e, "part_effectif_total_central", share, pct),
         _range(ess_e, "part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut", share, pct)],
        [f"Part de l'ESS dans l'emploi salarié privé (champ URSSAF), {au_e}",
         _value(ess_e, "part_effectif_prive_central", private, pct),
         _range(ess_e, "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut", private, pct)],
        [f"Établissements de l'ESS pour 1 000 habitants ({ctx.population_words()}), {au}",
         _value(ess, "etablissements_pour_1000_hab", "statut_secret_etablissements",
                lambda v: style.fmt_number(v, 1)), ""],
        [f"Ensemble de l'économie : établissements actifs, {au}",
         _value(ens, "nb_etablissements", "statut_secret_etablissements", style.fmt_number), ""],
        [f"Ensemble de l'économie : emploi salarié, {au_e}",
         _value(ens_e, "effectif_central", jobs, style.fmt_estimate),
         _range(ens_e, "effectif_ic90_bas", "effectif_ic90_haut", jobs, style.fmt_estimate)],
    ]


def _paragraphs(fig: Figure, y: float, blocks: list[tuple[str, str]], size: float = 8.3) -> float:
    """Headed paragraphs from y downwards; returns the y under the last one."""
    line = size / 72 / style.A4_PORTRAIT[1] * 1.45
    for heading, body in blocks:
        if heading:
            fig.text(0.06, y, heading, fontsize=size + 1.5, fontweight="bold", color="#1b4d3e", va="top")
            y -= line * 1.6
        for paragraph in body.split("\n"):
            wrapped = style.wrap(paragraph, WIDTH) or [""]
            fig.text(0.06, y, "\n".join(wrapped), fontsize=size, va="top", linespacing=1.35)
            y -= line * len(wrapped) + line * 0.45
        y -= line * 0.5
    return y


def cover_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, f"L'économie sociale et solidaire en {ctx.nom_departement}", number)
    p = ctx.params
    fig.text(0.06, 0.89, f"Rapport annuel de l'observatoire de l'ESS — millésime {p['millesime']} — édition du "
             f"{style.fmt_day(ctx.edition_date())}", fontsize=11, va="top")
    fig.text(0.06, 0.865, f"Département {ctx.nom_departement} ({ctx.departement}) — établissements au "
             f"{ctx.date_reference()}, emploi salarié au {ctx.date_effectifs()}", fontsize=9, va="top",
             color="#444444")
    ax = fig.add_axes((0.06, 0.45, 0.88, 0.37))
    bottom = charts.table(ax, ["Chiffres clés", "Valeur", "Intervalle à 90 %"], headline_rows(ctx),
                          title="Chiffres clés du département", fontsize=8.0, first_column_width=80)
    synthetic = ([("Avertissement", "Ce rapport est produit à partir de l'échantillon SYNTHÉTIQUE généré par "
                   "l'outil : ses chiffres ne décrivent pas la réalité et ne doivent pas être diffusés.")]
                 if ctx.synthetic else [])
    forced = ([("Publication forcée", "Ce rapport a été publié avec l'option --force malgré les garde-fous de "
                "publication : " + " ; ".join(p["publication_forcee"]) + ". Ses chiffres sont à vérifier.")]
              if p.get("publication_forcee") else [])
    _paragraphs(fig, bottom - 0.04, synthetic + forced + [
        ("Périmètre", f"{ctx.libelle_perimetre}, décrit page « Méthode et précautions de lecture »."),
        ("Sources et dates de référence",
         f"Établissements : répertoire SIRENE de l'INSEE, stock du {ctx.date_reference()} (millésime "
         f"{p['millesime']}) ; les séries passées comptent les établissements actifs au 31 décembre. Emploi : "
         f"effectif salarié au {ctx.date_effectifs()} des établissements ouverts à cette date (ceux fermés depuis "
         "comptent, ceux créés après non), estimé à partir des tranches d'effectifs de SIRENE et "
         + (f"calé sur les effectifs de l'URSSAF de la même année (fichiers {p.get('annee_urssaf') or ''}), plus "
            "l'emploi relevant de la MSA, que l'URSSAF ne voit pas, estimé."
            if ctx.calibrated else "NON CALÉ sur l'URSSAF : à lire comme un ordre de grandeur.")
         + " " + ctx.employers_caveat()
         + f" Territoires : Code officiel géographique {p.get('annee_cog') or ''}.\nDétail des sources : "
         f"{ctx.sources()}."),
        ("Lecture", "Chaque chiffre d'emploi est accompagné d'un intervalle à 90 %, "
         + coverage.NOMINAL + " ; "
         + coverage.measured(ctx.coverage, "emploi_ess") + ". La part de "
         "l'ESS est donnée dans l'emploi salarié de tous les employeurs, publics compris (définition d'ESS "
         "France et des CRESS), et dans l'emploi privé du champ de l'URSSAF ; l'intervalle de cette dernière, le "
         "plus étroit, " + ("compte les valeurs que l'URSSAF n'a pas publiées cette année-là (estimées avec leur "
                            "incertitude), mais pas" if ctx.blanks_imputed else
                            "ne compte ni les valeurs que l'URSSAF n'a pas publiées (comptées comme nulles), ni")
         + " les exceptions à la règle qui délimite le champ de l'URSSAF (employeurs publics aux "
         "salariés de droit privé, par exemple) : il peut manquer la vraie valeur ("
         + coverage.held_it(ctx.coverage, "part_prive") + "). Les "
         "cellules couvertes par le "
         "secret statistique sont notées « s » avec leur motif ; elles ne valent pas zéro."),
    ])
    return fig


def method_page(ctx: ReportContext, number: int) -> Figure:
    """Perimeter, estimation (with what the 90 % intervals were designed for and the table of their measured
    coverage), series. The secrecy rules are explained beside the secret's table (tables_page), the limits of the
    processing on the limits page: this page keeps room for the coverage table."""
    fig = new_page(ctx, "Méthode et précautions de lecture", number)
    from transforms.confidentiality import load_rules

    seuil = load_rules(reference_dir=ctx.params.get("reference_dir")).frequency_threshold
    blocks = [
        ("Périmètre de l'ESS", f"{ctx.libelle_perimetre} : {ctx.description_perimetre.rstrip('. ')}. Les familles (associations, "
         "coopératives, mutuelles, fondations…) sont déterminées par la catégorie juridique de l'unité légale ; "
         "les établissements sont rattachés à leur commune d'implantation (code officiel géographique du "
         "millésime, anciennes communes converties)." + _exclusions_sentence(ctx, seuil)),
        ("Estimation de l'emploi", f"L'emploi mesuré est l'effectif salarié au 31 décembre "
         f"(au {ctx.date_effectifs()} pour les chiffres de l'année, au 31/12 de chaque année pour les séries), des "
         "établissements ouverts à cette date. SIRENE ne donne qu'une tranche d'effectifs par établissement (1 à 2, "
         "3 à 5… salariés), valable pour une année souvent antérieure. Le modèle estime, pour chaque type "
         "d'établissement (tranche et son ancienneté, absence de tranche, caractère employeur, création récente), "
         "l'effectif moyen et sa dispersion à partir des effectifs publiés par l'URSSAF par commune et activité ; "
         "l'estimation de chaque établissement est ensuite calée, "
         + ("année par année, sur ces effectifs communaux et sur l'emploi de chaque famille de l'ESS publié par "
            "l'URSSAF pour le département (effectif moyen annuel converti au 31/12)."
            if ctx.calibrated else "— ici, sans calage sur l'URSSAF (« non calé »).")
         + " Les employeurs publics et agricoles, hors du champ de l'URSSAF, ne sont pas calés : leur emploi est "
         "plus incertain ; celui des employeurs relevant de la MSA par leur objet (maisons familiales rurales, "
         "organisations agricoles), que l'URSSAF ne voit pas, est estimé en plus, avec une marge large. "
         "L'intervalle à 90 % de chaque chiffre vient de l'incertitude du modèle après calage : il est "
         + coverage.NOMINAL + " si le modèle est juste ; " + _coverage_words(ctx) + " "
         "Le champ de l'URSSAF est lu dans SIRENE par une règle (catégorie juridique, activité) qui a des "
         "exceptions (employeurs publics aux salariés de droit privé, par exemple) : "
         "l'intervalle de la part dans l'emploi privé n'en tient pas compte et peut manquer la vraie valeur."),
        ("Évolution depuis 2012", "Les séries annuelles comptent les établissements actifs au 31 décembre de "
         "chaque année d'après l'historique de SIRENE, avec le périmètre de l'année et la géographie actuelle. "
         "L'emploi de chaque année est estimé de la même façon que celui de la dernière année, avec les fichiers de "
         "l'URSSAF de l'année ; pour les années passées, il est publié par territoire (pas par commune ni par "
         "secteur). La série publiée par l'URSSAF (effectif "
         "moyen annuel, champ privé) est montrée à part, car elle ne mesure pas la même chose."),
    ]
    if ctx.synthetic:
        blocks.insert(0, ("Données synthétiques", "Toutes les valeurs de ce rapport proviennent d'un échantillon "
                          "généré : « " + style.SYNTHETIC_MENTION + " »."))
    y = _paragraphs(fig, 0.89, blocks)
    if ctx.coverage is not None:
        coverage_table(fig, ctx, y)
    return fig


def _coverage_words(ctx: ReportContext) -> str:
    """How the intervals were put to the test, for the method's text (the table under it gives the figures)."""
    cov = ctx.coverage
    if cov is None:
        return "sa couverture n'a pas été mesurée (" + coverage.NOT_MEASURED + ")."
    return (f"sa couverture a été éprouvée sur {style.fmt_number(cov.worlds)} départements simulés, dont la vérité ne "
            "suit pas toutes les hypothèses du modèle (tableau en bas de page).")


def _smaller(scale: float) -> str:
    """Why the measured figures are not the report's own: worlds smaller than the sample have wider intervals."""
    if not 0 < scale < 1:
        return ""
    times = 1 / scale
    times = style.fmt_number(times, 0 if abs(times - round(times)) < 0.05 else 1)
    return (f" : des départements simulés {times} fois plus petits que l'échantillon, aux "
            "intervalles plus larges que ceux de ce rapport")


def coverage_table(fig: Figure, ctx: ReportContext, top: float) -> float:
    """The measured coverage per indicator of the département, then of the territories of the report's territory
    charts (reports/coverage.py), from `top` down; returns the y under its note."""
    cov = ctx.coverage
    levels = {n.niveau: n.par for n in (ctx.niveau_territoires, ctx.niveau("epci"))}
    ax = fig.add_axes((0.06, 0.06, 0.88, top - 0.08))
    bottom = charts.table(ax, ["Indicateur", "Année d'emploi", "Années passées", "Écart moyen"],
                          coverage.table_rows(cov, levels),
                          title=f"Couverture mesurée des intervalles à 90 % ({style.fmt_number(cov.worlds)} "
                                "départements simulés)", fontsize=8.0, first_column_width=48)
    day = pd.Timestamp(cov.day).strftime("%d/%m/%Y")
    note = style.wrap(
        "Nombre de fois où l'intervalle a contenu la vraie valeur : l'année d'emploi (une fois par département "
        "simulé) et les années passées (une fois de plus par année) ; entre parenthèses, la fourchette à "
        "90 % de cette couverture. Écart moyen (année ; années passées) : estimation moins "
        "vraie valeur, en % de la vraie valeur (négatif : sous-estimation). Échantillon synthétique (générateur "
        f"{cov.generator}, "
        f"échelle {style.fmt_number(cov.scale, 2)}" + _smaller(cov.scale)
        + (", avec les employeurs relevant de la MSA que la règle du "
                                                       "champ de l'URSSAF ne voit pas" if cov.exceptions else "")
        + f"), mesure du {day} ; {coverage.table_note(cov, levels)}.", WIDTH)
    fig.text(0.06, bottom - 0.012, "\n".join(note), fontsize=8, va="top", color="#444444")
    return bottom - 0.012 - NOTE_LINE * len(note)


def secret_block(ctx: ReportContext) -> tuple[str, str]:
    """How statistical secrecy is applied (heading, text), on the page of the secret's table (tables_page)."""
    from transforms.confidentiality import load_rules

    rules = load_rules(reference_dir=ctx.params.get("reference_dir"))
    seuil = rules.frequency_threshold
    dominance = style.fmt_percent(rules.dominance_share, 0)
    protection = (f"{style.fmt_percent(rules.protection_share, 0)} (et {style.fmt_number(rules.protection_minimum)} "
                  "salarié au moins)")
    return ("Secret statistique", f"Les nombres d'établissements viennent d'un répertoire public (SIRENE) : ils sont "
         "publiés partout, comme dans les dénombrements d'établissements de l'INSEE. L'emploi est protégé "
         "(loi n° 51-711 du 7 juin 1951, art. 6, règles de l'INSEE) : aucun effectif n'est publié pour une cellule "
         f"de moins de {seuil} unités légales (règle de fréquence, même si l'effectif est nul) ni si une seule unité "
         f"légale y apporte plus de {dominance} de l'effectif (estimation centrale ; règle de "
         "dominance). D'autres cellules sont masquées (secret secondaire) pour qu'aucune de ces valeurs sensibles ne "
         "puisse être recalculée, ni encadrée à moins de " + protection + " près, à partir de l'ensemble des chiffres "
         "publiés — tous périmètres, territoires, familles, secteurs et tailles, avec ceux de l'URSSAF (emploi "
         "par famille et par commune), en tenant compte de ce que les "
         "effectifs ne sont jamais négatifs ; un audit par programmation linéaire le vérifie avant chaque "
         "publication. L'emploi par secteur et par taille n'est publié qu'au niveau du département. Une valeur "
         "masquée est notée « s » avec son motif ; elle n'est jamais représentée par un zéro. Une part est masquée "
         "si sa cellule ou le total de l'économie correspondant l'est. Aucun établissement n'apparaît "
         "individuellement.")


def method_limits(ctx: ReportContext) -> tuple[str, str]:
    """The limits of the processing (heading, text), on the limits page (synthesis_pages.limits_page): the method
    page keeps its room for the measured coverage of the intervals. (That the employers outside URSSAF's field are
    not calibrated, the limits page says in its own block.)"""
    return ("Les limites du traitement", "Les unités en diffusion partielle de SIRENE sont comptées comme les "
            "autres, sous les mêmes règles de secret ; aucune donnée individuelle n'est publiée. La tranche ouverte "
            "« 10 000 salariés et plus » n'a pas de borne haute. Les EPCI qui débordent du département ne sont "
            "comptés que pour leur partie dans le département. "
            + (f"Les {_lower_first(ctx.niveau_territoires.libelle)} sont reconstitués en regroupant des "
               "intercommunalités entières : c'est une approximation de leurs limites réelles. "
               if ctx.territoires_approches else "")
            + "Les contours communaux des cartes sont simplifiés (IGN ADMIN EXPRESS, Licence Ouverte).")


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


CALIBRATION_ORDER = ("associations", "cooperatives", "mutuelles", "fondations", "hors_ess", "ensemble_prive",
                     "hors_champ_urssaf")


def calibration_rows(ctx: ReportContext) -> list[list[str]]:
    """Groupe, the figure URSSAF publishes for it (what it measures) and the calibration's status, for the employment
    year. Only URSSAF's own figures: our calibrated totals (and the targets at 31/12, which they meet) cover the
    URSSAF field only, so beside the public table's family totals, which count every employer, they would give
    each family's employment outside the field — often a few agricultural establishments (MSA), which statistical
    secrecy protects — and the secrecy model does not split the field (METHOD.md § 6)."""
    cal = ctx.calibration
    if cal is None or cal.empty or ctx.year_effectifs is None:
        return []
    cal = cal[cal["annee"] == ctx.year_effectifs]
    rank = {f: i for i, f in enumerate(CALIBRATION_ORDER)}
    cal = cal.sort_values("groupe", key=lambda s: s.map(lambda f: rank.get(f, len(rank))), kind="stable")
    year = ctx.year_effectifs
    definition = {"moyenne_annuelle": f"moyenne annuelle {year}", "fin_annee": f"au 31/12/{year}"}
    out = []
    for r in cal.to_dict("records"):
        published = r.get("cible_publiee")
        shown = published is not None and pd.notna(published)
        out.append([style.label("famille", r["groupe"]), style.fmt_number(published) if shown else "—",
                    definition.get(r.get("definition_cible") or "", "—") if shown else "—",
                    style.label("calage", r["statut"])])
    return out


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def secret_rows(ctx: ReportContext) -> list[list[str]]:
    """Per geographic level: cells of the employment year, and those whose employment is masked, by reason (counts
    are never masked)."""
    emp = ctx.employment
    cur = emp
    out = []
    for level in reversed(ctx.niveaux):  # coarsest first, whatever the levels (zonings included)
        rows = cur[cur["niveau"] == level.niveau]
        if rows.empty:
            continue
        eff = emp.loc[emp["niveau"] == level.niveau, "statut_secret_effectifs"].value_counts()
        out.append([level.libelle, style.fmt_number(len(rows))]
                   + [style.fmt_number(eff.get(r, 0)) for r in ("frequence", "dominance", "secondaire",
                                                                "non_diffuse")])
    return out


SECRET_HEADER = ["Niveau", "Cellules", "Emploi\nfréquence", "Emploi\ndominance", "Emploi\nsecondaire",
                 "Emploi\nnon diffusé"]


NOTE_LINE = 0.0135  # height of a line of 8-point note text, as a share of the page


def tables_page(ctx: ReportContext, number: int) -> Figure:
    fig = new_page(ctx, "Calage de l'emploi et secret statistique", number)
    ax = fig.add_axes((0.06, 0.50, 0.88, 0.38))
    bottom = charts.table(ax, ["Groupe", "Effectif publié\npar l'URSSAF", "Mesure de l'URSSAF",
                               "Calage de l'estimation"], calibration_rows(ctx),
                          title=f"Calage de l'emploi sur l'URSSAF, année {ctx.year_effectifs}")
    note = style.wrap(
        "Le fichier de l'URSSAF sur l'ESS publie, pour chaque famille, l'effectif salarié moyen de l'année dans son "
        "champ (employeurs privés du régime général, hors agriculture). L'estimation de l'observatoire est « calée » "
        "sur ces chiffres : dans ce champ, l'emploi estimé de chaque famille est ajusté pour égaler son chiffre "
        "URSSAF (la « cible »), converti au 31/12 par le rapport, sur tout le champ privé, entre l'effectif au 31/12 "
        "du fichier URSSAF par commune et activité (complété des valeurs que ce fichier laisse vides) et l'effectif "
        "moyen du fichier ESS. Les familles sans chiffre URSSAF (autres organismes, sociétés commerciales de l'ESS) "
        "sont calées avec le reste de l'économie ; les employeurs hors du champ de l'URSSAF (publics, agricoles) ne "
        "sont pas calés : leur emploi vient des seules tranches d'effectifs de SIRENE. Les totaux calés ne sont pas "
        "publiés : rapprochés de l'emploi de chaque famille (tous employeurs), ils donneraient celui de ses "
        "employeurs hors du champ de l'URSSAF, souvent quelques établissements que le secret statistique protège.",
        WIDTH)
    fig.text(0.06, bottom - 0.025, "\n".join(note), fontsize=8, va="top", color="#444444")
    top = min(bottom - 0.06 - NOTE_LINE * len(note), 0.55)
    ax = fig.add_axes((0.06, 0.08, 0.88, top - 0.08))
    bottom = charts.table(ax, SECRET_HEADER, secret_rows(ctx), title="Cellules masquées au titre du secret statistique")
    counts = style.wrap(
        f"Nombre de cellules du tableau public au {ctx.date_effectifs()} ({_lower_first(ctx.libelle_perimetre)} ; "
        "toutes familles, secteurs et tailles), et celles dont l'emploi est masqué, par motif (fréquence, "
        "dominance, secret secondaire) ou non diffusé à ce niveau (emploi par secteur ou taille : département "
        "seulement). Les nombres d'établissements ne sont jamais masqués.", WIDTH)
    fig.text(0.06, bottom - 0.025, "\n".join(counts), fontsize=8, va="top", color="#444444")
    _paragraphs(fig, bottom - 0.025 - NOTE_LINE * len(counts) - 0.03, [secret_block(ctx)])
    return fig
