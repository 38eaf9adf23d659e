"""What a 90 % interval of the report was designed for, and what it did when put to the test: the coverage measured on
synthetic worlds (data/reference/couverture_intervalles.csv, benchmarks/coverage_reference.py), read from the run's
reference folder — never a figure written here, since a new estimator or generator changes it.

Every sentence that explains an interval comes from this module: « intervalle à 90 %, conçu pour contenir la vraie
valeur 9 fois sur 10 ; éprouvé sur 14 départements simulés, il a contenu l'emploi de l'ESS de l'année 9 fois sur 14
et celui des années passées 93 fois sur 182 ; l'emploi de l'ESS y est plutôt sous-estimé, d'environ 1,6 % ». Where
coverage is clearly short (below SHORT_COVERAGE), the sentence says which way the estimate errs (the measured mean
bias). Without the file, or without a row for the indicator: « couverture non mesurée ».

An interval of a territory (a level below the département: the Département's territoires, EPCI…) quotes the
measure of its own level, whose cells are the territories of every simulated département: « éprouvé sur 14
départements simulés, il a contenu la vraie valeur dans 160 territoires simulés sur 182 pour l'année »; without a
row for that level: « couverture non mesurée à ce niveau ».
"""

from __future__ import annotations

from dataclasses import dataclass

from reports import style

NOMINAL = "conçu pour contenir la vraie valeur 9 fois sur 10"
NOT_MEASURED = "couverture non mesurée"
SEE_METHOD = "(voir « Méthode »)"
# Below this measured share of cells covered, a reader is told which way the estimate errs: a wording rule (an
# interval meant for 90 % that holds the truth less than 8 times in 10 misleads), not a measured figure.
SHORT_COVERAGE = 0.8
# A mean bias smaller than this (relative) is no direction worth telling.
NO_DIRECTION = 0.001
YEAR, PAST = "annee_emploi", "annees_passees"
DEPARTEMENT = "departement"  # the level of the département's own measure
NOT_MEASURED_LEVEL = NOT_MEASURED + " à ce niveau"
# A level's territories as a count reads them (plural, feminine?); any other level (a zoning): « territoires ».
TERRITORY_NOUNS = {"epci": ("EPCI", False), "zone_emploi": ("zones d'emploi", True),
                   "arrondissement": ("arrondissements", False), "commune": ("communes", True)}
# the indicators of the « Méthode » table measured per territory: indicator -> label before « par … »
TERRITORY_TABLE = {"emploi_ess": "Emploi", "part_total": "Part"}  # short: the table must fit the page
# indicator -> (its name with the article, feminine?) as a sentence of the département's figures reads it (a
# territory's sentence says « la vraie valeur »: its level's name is in the count)
WORDS = {
    "emploi_ess": ("l'emploi de l'ESS", False),
    "emploi_associations": ("l'emploi des associations", False),
    "emploi_cooperatives": ("l'emploi des coopératives", False),
    "emploi_mutuelles": ("l'emploi des mutuelles", False),
    "emploi_fondations": ("l'emploi des fondations", False),
    "part_prive": ("la part de l'ESS dans l'emploi privé", True),
    "part_total": ("la part de l'ESS dans l'emploi", True),
}
# the rows of the « Méthode » table, in order: indicator -> label
TABLE = {
    "emploi_ess": "Emploi salarié de l'ESS",
    "emploi_associations": "dont associations",
    "emploi_cooperatives": "dont coopératives",
    "emploi_mutuelles": "dont mutuelles",
    "emploi_fondations": "dont fondations",
    "part_total": "Part de l'ESS (tous employeurs)",
    "part_prive": "Part de l'ESS (privé, champ URSSAF)",
}
FAMILY_INDICATORS = ("emploi_associations", "emploi_cooperatives", "emploi_mutuelles", "emploi_fondations")


@dataclass(frozen=True)
class Measure:
    cells: int
    covered: int
    low: float  # Clopper–Pearson 90 % interval of the coverage
    high: float
    bias: float  # mean relative bias, (central − truth) / truth
    half_width: float  # median relative half-width
    first_year: int
    last_year: int
    worlds: int = 0  # the simulated départements (seeds) of this measure

    @property
    def share(self) -> float:
        return self.covered / self.cells

    @property
    def short(self) -> bool:
        return self.share < SHORT_COVERAGE


@dataclass(frozen=True)
class Coverage:
    """The measured coverage of the worlds closest to reality (with the exceptions to URSSAF's field when the file
    has them), by (indicator, scope, level)."""
    measures: dict[tuple[str, str, str], Measure]
    worlds: int
    generator: str
    scale: float
    day: str  # YYYY-MM-DD
    exceptions: bool

    def get(self, indicateur: str, scope: str, niveau: str = DEPARTEMENT) -> Measure | None:
        return self.measures.get((indicateur, scope, niveau))


def from_rows(rows: list[dict] | None, perimetre: str | None = None) -> Coverage | None:
    """The checked rows of the reference file (transforms/referentiels.read_coverage) of the ESS `perimetre` (every
    row: None) as a Coverage; None without rows: the ESS of another perimeter was not measured."""
    rows = [r for r in rows or [] if perimetre is None or r["perimetre"] == perimetre]
    if not rows:
        return None
    exceptions = any(r["exceptions_champ_urssaf"] for r in rows)
    rows = [r for r in rows if r["exceptions_champ_urssaf"] == exceptions]
    first = next((r for r in rows if r["niveau"] == DEPARTEMENT), rows[0])
    return Coverage(
        {(r["indicateur"], r["portee"], r["niveau"]): Measure(
            r["cellules"], r["cellules_couvertes"], r["couverture_ic90_bas"], r["couverture_ic90_haut"],
            r["biais_relatif_moyen"], r["demi_largeur_relative_mediane"], r["annee_debut"], r["annee_fin"],
            r["nb_graines"]) for r in rows},
        worlds=first["nb_graines"], generator=first["version_generateur"], scale=first["echelle_echantillon"],
        day=first["date_mesure"], exceptions=exceptions)


def load(reference_dir=None, perimetre: str | None = None) -> Coverage | None:
    from transforms.referentiels import read_coverage

    return from_rows(read_coverage(reference_dir), perimetre)


def _times(m: Measure) -> str:
    return f"{style.fmt_number(m.covered)} fois sur {style.fmt_number(m.cells)}"


def _worlds(cov: Coverage, worlds: int | None = None) -> str:
    return f"éprouvé sur {style.fmt_number(worlds or cov.worlds)} départements simulés"


def _in_territories(m: Measure, niveau: str) -> str:
    """« dans 160 territoires simulés sur 182 »"""
    noun, feminine = TERRITORY_NOUNS.get(niveau, ("territoires", False))
    return (f"dans {style.fmt_number(m.covered)} {noun} simulé{'e' if feminine else ''}s sur "
            f"{style.fmt_number(m.cells)}")


def tested(cov: Coverage | None, indicateur: str, scopes=(YEAR, PAST), niveau: str = DEPARTEMENT) -> str:
    """« éprouvé sur 14 départements simulés, il a contenu l'emploi de l'ESS du département 9 fois sur 14 pour l'année
    et 93 fois sur 182 pour les années passées », or NOT_MEASURED; for a territory's interval (`niveau` below the
    département): « éprouvé sur 14 départements simulés, il a contenu la vraie valeur dans 160 territoires simulés
    sur 182 pour l'année », or NOT_MEASURED_LEVEL."""
    found = [(s, cov.get(indicateur, s, niveau)) for s in scopes] if cov else []
    found = [(s, m) for s, m in found if m is not None]
    if niveau != DEPARTEMENT:
        if not found:  # no file at all: not measured; a file without this level: not at this level
            return NOT_MEASURED if cov is None else NOT_MEASURED_LEVEL
        parts = [_in_territories(m, niveau) + (" pour l'année" if scope == YEAR else " pour les années passées")
                 for scope, m in found]
        return f"{_worlds(cov, found[0][1].worlds)}, il a contenu la vraie valeur " + " et ".join(parts)
    if not found or indicateur not in WORDS:
        return NOT_MEASURED
    parts = [_times(m) + (" pour l'année" if scope == YEAR else " pour les années passées") for scope, m in found]
    return f"{_worlds(cov)}, il a contenu {WORDS[indicateur][0]} du département " + " et ".join(parts)


def direction(cov: Coverage | None, indicateur: str, scopes=(YEAR, PAST), brief: bool = False,
              niveau: str = DEPARTEMENT) -> str:
    """Where the measured coverage (of `niveau`) is clearly short: which way the estimate errs, « l'emploi de l'ESS y
    est plutôt sous-estimé, d'environ 1,6 % » (`brief`: « estimation plutôt trop basse, d'environ 1,6 % »; ''
    otherwise, or when the bias has no clear sign)."""
    if cov is None or indicateur not in WORDS:
        return ""
    short = [m for m in (cov.get(indicateur, s, niveau) for s in scopes) if m is not None and m.short]
    if not short:
        return ""
    biases = [m.bias for m in short]
    if max(biases) > -NO_DIRECTION and min(biases) < NO_DIRECTION:
        return ""  # both ways, or too small to tell: the interval is too narrow, no direction to say
    words, feminine = WORDS[indicateur]
    low, high = sorted(round(abs(b) * 100, 1) for b in (min(biases), max(biases)))
    size = (style.fmt_percent(low / 100, 1) if low == high
            else f"{style.fmt_number(low, 1)} à {style.fmt_percent(high / 100, 1)}")
    if brief:
        return f"estimation plutôt trop {'basse' if biases[0] < 0 else 'haute'}, d'environ {size}"
    way = "sous-estimé" if biases[0] < 0 else "surestimé"
    return f"{words} y est plutôt {way}{'e' if feminine else ''}, d'environ {size}"


def interval_sentence(cov: Coverage | None, indicateur: str, scopes=(YEAR, PAST),
                      niveau: str = DEPARTEMENT) -> str:
    """« intervalle à 90 %, conçu pour … ; éprouvé sur …, il a contenu … ; … plutôt sous-estimé, d'environ … (voir
    « Méthode ») » — or « … ; couverture non mesurée »; `niveau`: the level of the territories it is about."""
    return f"intervalle à 90 %, {designed_and_tested(cov, indicateur, scopes, niveau)}"


def designed_and_tested(cov: Coverage | None, indicateur: str, scopes=(YEAR, PAST),
                        niveau: str = DEPARTEMENT) -> str:
    """NOMINAL, then what was measured and, when short, which way the estimate errs, then where to read more."""
    return f"{NOMINAL} ; {measured(cov, indicateur, scopes, niveau)}"


def measured(cov: Coverage | None, indicateur: str, scopes=(YEAR, PAST), niveau: str = DEPARTEMENT) -> str:
    """What was measured (`tested`) and, when short, which way the estimate errs, then where to read more."""
    way = direction(cov, indicateur, scopes, niveau=niveau)
    return tested(cov, indicateur, scopes, niveau) + (f" ; {way}" if way else "") + f" {SEE_METHOD}"


def territories_tested(cov: Coverage | None, niveau: str) -> str:
    """The year's territory table (employment and share of each territory of `niveau`): « éprouvés sur 14
    départements simulés, celui de l'emploi de l'ESS a contenu la vraie valeur dans 160 territoires simulés sur 182,
    celui de la part dans 170 ; … », or NOT_MEASURED_LEVEL."""
    jobs, share = (cov.get(i, YEAR, niveau) if cov else None for i in ("emploi_ess", "part_total"))
    if jobs is None and share is None:
        return NOT_MEASURED if cov is None else NOT_MEASURED_LEVEL
    first = jobs or share
    parts = []
    if jobs is not None:
        parts.append(f"celui de l'emploi de l'ESS a contenu la vraie valeur {_in_territories(jobs, niveau)}")
    if share is not None:
        parts.append(f"celui de la part dans {style.fmt_number(share.covered)}"
                     if jobs is not None and share.cells == jobs.cells
                     else f"celui de la part a contenu la vraie valeur {_in_territories(share, niveau)}")
    ways = [w for w in (direction(cov, i, (YEAR,), niveau=niveau) for i in ("emploi_ess", "part_total")) if w]
    return (f"éprouvés sur {style.fmt_number(first.worlds or cov.worlds)} départements simulés, " + ", ".join(parts)
            + "".join(f" ; {w}" for w in ways))


def short_tested(cov: Coverage | None, indicateur: str) -> str:
    """For a key message about the employment year: « il a contenu la vraie valeur dans 9 départements simulés sur
    14 ; estimation plutôt trop basse, d'environ 1,6 % », or NOT_MEASURED."""
    m = cov.get(indicateur, YEAR) if cov else None
    if m is None or indicateur not in WORDS:
        return NOT_MEASURED
    way = direction(cov, indicateur, (YEAR,), brief=True)
    return (f"il a contenu la vraie valeur dans {style.fmt_number(m.covered)} départements simulés sur "
            f"{style.fmt_number(m.cells)}"
            + (f" ; {way}" if way else ""))


def held_it(cov: Coverage | None, indicateur: str) -> str:
    """After « il peut manquer la vraie valeur »: « sur 14 départements simulés, il l'a contenue 10 fois pour
    l'année ; estimation plutôt trop basse, d'environ 0,7 % », or NOT_MEASURED."""
    m = cov.get(indicateur, YEAR) if cov else None
    if m is None or indicateur not in WORDS:
        return NOT_MEASURED
    way = direction(cov, indicateur, (YEAR,), brief=True)
    return (f"sur {style.fmt_number(m.cells)} départements simulés, il l'a contenue {style.fmt_number(m.covered)} "
            "fois pour l'année" + (f" ; {way}" if way else ""))


def families_tested(cov: Coverage | None) -> str:
    """The families' employment of the year: « éprouvé sur 14 départements simulés, il a contenu l'emploi de l'année
    du département 6 fois sur 14 pour les associations, 13 pour les coopératives, 14 pour les mutuelles et 14 pour
    les fondations ; l'emploi des associations y est plutôt sous-estimé, d'environ 2,0 % »."""
    found = [(i, cov.get(i, YEAR)) for i in FAMILY_INDICATORS] if cov else []
    found = [(i, m) for i, m in found if m is not None]
    if not found:
        return NOT_MEASURED
    parts = [(_times(m) if k == 0 else style.fmt_number(m.covered)) + " pour les " + i.removeprefix("emploi_")
             .replace("cooperatives", "coopératives") for k, (i, m) in enumerate(found)]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]
    ways = [w for w in (direction(cov, i, (YEAR,)) for i, _ in found) if w]
    return f"{_worlds(cov)}, il a contenu l'emploi de l'année du département {listed}" + "".join(f" ; {w}"
                                                                                            for w in ways)


def table_rows(cov: Coverage, levels: dict[str, str] | None = None) -> list[list[str]]:
    """The « Méthode » table: per indicator, covered / cells with the 90 % range of that coverage, for the employment
    year and the past years, and the mean bias (year ; past years); then, per level of `levels` (niveau -> its words
    after « par »), the territories' employment and share."""
    def cell(m: Measure | None) -> str:
        if m is None:
            return "—"
        return (f"{style.fmt_number(m.covered)} sur {style.fmt_number(m.cells)} "
                f"({style.fmt_number(100 * m.low, 0)}–{style.fmt_percent(m.high, 0)})")

    out = []
    rows = [(i, DEPARTEMENT, label) for i, label in TABLE.items()]
    rows += [(i, niveau, f"{label}, par {par}") for niveau, par in (levels or {}).items() if niveau != DEPARTEMENT
             for i, label in TERRITORY_TABLE.items()]
    for indicateur, niveau, label in rows:
        year, past = cov.get(indicateur, YEAR, niveau), cov.get(indicateur, PAST, niveau)
        if year is None and past is None:
            continue
        bias = " ; ".join(_signed(m.bias) for m in (year, past) if m is not None)
        out.append([label, cell(year), cell(past), bias])
    return out


def table_note(cov: Coverage, levels: dict[str, str] | None = None) -> str:
    """What a cell of the « Méthode » table is, at each level it shows."""
    below = [n for n in (levels or {}) if n != DEPARTEMENT
             and any(cov.get(i, s, n) for i in TERRITORY_TABLE for s in (YEAR, PAST))]
    if not below:
        return "département entier seulement"
    worlds = {cov.get(i, s, n).worlds for n in below for i in TERRITORY_TABLE for s in (YEAR, PAST)
              if cov.get(i, s, n)}
    return ("lignes « par … » : emploi et part de l'ESS, une fois par territoire"
            + ("" if worlds == {cov.worlds} else
               f" ({' ou '.join(style.fmt_number(w) for w in sorted(worlds))} départements simulés)"))


def _signed(ratio: float) -> str:
    """« −1,6 % », « +0,3 % », and « 0,0 % » for what rounds to nothing (never « −0,0 % »)."""
    return style.signed_pct(ratio) if round(abs(ratio) * 100, 1) else style.fmt_percent(0.0, 1)
