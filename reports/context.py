"""Everything a report page needs, read once from the input tables: the public cube of the run, the year, the
names, the territorial levels (with the zonings' wording and provenance), the calibration and URSSAF series, the
communes of the département (for the maps)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ess import paths
from ess.settings import millesime_date
from reports import coverage as coverage_words
from reports import selection as sel
from reports import style
from transforms import reference, zonages


@dataclass(frozen=True)
class Niveau:
    """A territorial level of the run, as the report words it."""
    niveau: str
    par: str  # after « par », singular: « arrondissement », « territoire du Département », « bassin de vie »
    libelle: str  # in tables, plural: reports/libelles.csv, else `par` capitalised
    zonage: bool  # a zoning of the reference folder (transforms/zonages.py), not a level of the COG
    approche: bool  # the zoning's provenance says it is an approximation (e.g. 'approximation_epci')
    nb_territoires: int


@dataclass
class ReportContext:
    params: dict
    cube: pd.DataFrame
    year: int
    synthetic: bool
    nom_departement: str
    libelle_perimetre: str
    description_perimetre: str
    calibration: pd.DataFrame | None = None
    audit: pd.DataFrame | None = None
    urssaf: pd.DataFrame = field(default_factory=pd.DataFrame)
    communes: pd.DataFrame = field(default_factory=pd.DataFrame)  # code_commune, nom_commune, population, siren_epci
    secret_rules: dict = field(default_factory=dict)
    # URSSAF's published ESS file for the département: annee, champ_ess, famille_ess, nb_etablissements,
    # effectifs_salaries, masse_salariale (one row per published line; NULL = not published)
    urssaf_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the levels of the cube, finest first (commune … département); see `niveaux_du_cube`
    niveaux: list[Niveau] = field(default_factory=list)
    # the département beside its région and France (staging_urssaf_ess_comparaison); None when not given
    urssaf_comparaison: pd.DataFrame | None = None
    # ESS employers of the millésime by year of their SIRENE size band (selection.band_years); None when not given
    annees_tranches: pd.Series | None = None
    # the coverage of the 90 % intervals measured on synthetic worlds (couverture_intervalles.csv of the run's
    # reference folder); None: not measured, which the report says
    coverage: coverage_words.Coverage | None = None

    @property
    def departement(self) -> str:
        return str(self.params["departement"])

    def band_years_text(self) -> str:
        """« tranches de 2018 à 2023, 88 % de 2023 »: the years the SIRENE size bands of the ESS employers measure
        ('' when unknown)."""
        years = self.annees_tranches
        if years is None or not len(years) or not years.sum():
            return ""
        last, first = int(years.index.max()), int(years.index.min())
        share = style.fmt_percent(years[last] / years.sum(), 0)
        if first == last:
            return f"tranches de {last}, toutes"
        return f"tranches de {first} à {last}, {share} de {last}"

    def employers_words(self) -> str:
        """What « employeur » means here: the latest SIRENE size band shows employees, a band of past years (named
        from the data), not employment at the millésime date."""
        years = self.band_years_text()
        return "employeurs selon leur dernière tranche d'effectifs SIRENE" + (f" ({years})" if years else "")

    def employers_caveat(self) -> str:
        """One sentence: who counts as an employer, and when it is measured."""
        years = self.annees_tranches
        last = int(years.index.max()) if years is not None and len(years) and years.sum() else None
        created = (f"un établissement créé après {last}" if last
                   else "un établissement créé depuis la dernière mise à jour de sa tranche")
        return (f"Employeurs : établissements dont la dernière tranche d'effectifs SIRENE indique des salariés"
                + (f" ({self.band_years_text()})" if last else "") + f", et non les employeurs au "
                f"{self.date_reference()} ; {created} n'a pas encore de tranche et compte comme non employeur.")

    def population_words(self) -> str:
        """« population municipale 2023, en vigueur au 1er janvier 2026 »: INSEE's legal population of the COG year
        is that of an earlier census (the cube's annee_population)."""
        cog = self.params.get("annee_cog")
        if not cog:
            return "population municipale en vigueur"
        return f"population municipale {reference.population_year(cog)}, en vigueur au 1er janvier {int(cog)}"

    def niveau(self, niveau: str) -> Niveau:
        """A level of the run (a COG level the cube lacks gets its labels all the same)."""
        found = next((n for n in self.niveaux if n.niveau == niveau), None)
        return found or _niveau_cog(niveau, 0)

    @property
    def niveau_territoires(self) -> Niveau:
        """The level of the report's territory pages: the finest zoning of the run (e.g. the Département's
        territoires), else the arrondissements."""
        return next((n for n in self.niveaux if n.zonage), None) or self.niveau("arrondissement")

    @property
    def territoires_approches(self) -> bool:
        """The report's territories are an approximation (e.g. rebuilt from whole EPCIs)."""
        return self.niveau_territoires.approche

    @property
    def current(self) -> pd.DataFrame:
        """Rows of the millésime year: establishment counts at the millésime date (no employment)."""
        return self.cube[self.cube["annee"] == self.year]

    @property
    def year_effectifs(self) -> int | None:
        """The employment year: the latest year whose rows carry employment (on 31 December)."""
        years = self.cube.loc[self.cube["date_reference_effectifs"].notna(), "annee"]
        return int(years.max()) if len(years) else None

    @property
    def employment(self) -> pd.DataFrame:
        """Rows of the employment year (employment and shares on 31 December of that year)."""
        return self.cube[self.cube["annee"] == self.year_effectifs]

    def edition_date(self) -> dt.date:
        """The report's edition date, from the run, never from the clock (the same inputs give the same PDF): the
        day the run started, which its id says (« 20261130T160727-… », the id `ess run` gives by default, in UTC),
        else (an id chosen by hand) the day of the millésime's stock, the earliest a report on it can be made."""
        match = re.match(r"(\d{8})T", str(self.params.get("run_id") or ""))
        if match:
            try:
                return dt.datetime.strptime(match.group(1), "%Y%m%d").date()
            except ValueError:
                pass
        return millesime_date(str(self.params["millesime"]))

    def date_reference(self) -> str:
        """The date establishments are counted at (the end of the millésime month)."""
        rows = self.current["date_reference_etablissements"].dropna()
        return pd.Timestamp(rows.iloc[0]).strftime("%d/%m/%Y") if len(rows) else str(self.params["millesime"])

    def date_effectifs(self) -> str:
        """The date employment is measured at (31 December of the employment year), « non calé » when it is not
        calibrated on URSSAF."""
        if self.year_effectifs is None:
            return style.UNAVAILABLE
        return f"31/12/{self.year_effectifs}" + ("" if self.calibrated else " (non calé)")

    @property
    def calibrated(self) -> bool:
        status = self.employment["statut_effectifs"].dropna()
        return not len(status) or (status == "cale").all()

    @property
    def blanks_imputed(self) -> bool:
        """Did the employment year's private total count URSSAF's unpublished values (imputed empty cells of the
        file's last year: core_calibration, ensemble_prive, cible_fin_annee above cible_publiee)?"""
        cal = self.calibration
        if cal is None or self.year_effectifs is None:
            return False
        row = cal[(cal["annee"] == self.year_effectifs) & (cal["groupe"] == "ensemble_prive")]
        return bool(len(row)) and bool((row["cible_fin_annee"] > row["cible_publiee"]).any())

    def sources(self) -> str:
        texts = []
        for rows in (self.current, self.employment):
            values = rows["sources"].dropna()
            if len(values) and str(values.iloc[0]) not in texts:
                texts.append(str(values.iloc[0]))
        return " | ".join(texts)

    def footer(self) -> str:
        text = (f"Observatoire de l'ESS — {self.nom_departement} ({self.departement}) — SIRENE {self.params['millesime']}"
                f" (établissements au {self.date_reference()}) — emploi au {self.date_effectifs()} — "
                f"{self.libelle_perimetre} — secret statistique appliqué")
        return (style.SYNTHETIC_MENTION + " — " + text) if self.synthetic else text


def _secret_rules(reference_dir) -> dict:
    """The primary rules of the run's secret_statistique.csv (transforms/confidentiality.py reads and checks it)."""
    from transforms.confidentiality import load_rules

    rules = load_rules(reference_dir=reference_dir)
    return {"frequence": float(rules.frequency_threshold), "dominance": rules.dominance_share}


def _communes(tables: dict[str, Path], departement: str, annee_cog) -> pd.DataFrame:
    """Communes of the département with their EPCI: staging_communes of the run, else the committed COG."""
    frame = sel.read_table(tables, "staging_communes", ["code_commune", "code_departement", "siren_epci"])
    if frame is None:
        candidates = [paths.REFERENCE_DIR / f"communes_{annee_cog}.csv"] + sorted(
            paths.REFERENCE_DIR.glob("communes_[0-9][0-9][0-9][0-9].csv"), reverse=True)
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            return pd.DataFrame(columns=["code_commune", "siren_epci"])
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "type" in frame.columns:
            frame = frame[frame["type"] == "commune"]
    frame = frame[frame["code_departement"].astype(str) == departement].copy()
    for column in ("nom_commune", "population"):
        if column not in frame.columns:
            frame[column] = None
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce")
    return frame[["code_commune", "nom_commune", "population", "siren_epci"]].drop_duplicates(
        "code_commune").reset_index(drop=True)


def _comparison(tables: dict[str, Path], departement: str) -> pd.DataFrame | None:
    frame = sel.read_table(tables, sel.URSSAF_COMPARISON, sel.URSSAF_COMPARISON_COLUMNS)
    if frame is not None and "_departement" in frame.columns:  # the national table, not a partition
        frame = frame[frame["_departement"] == departement]
    return frame


def _niveau_cog(niveau: str, nb: int) -> Niveau:
    return Niveau(niveau, style.label("niveau_par", niveau), style.label("niveau", niveau), False, False, nb)


def niveaux_du_cube(cube: pd.DataFrame, reference_dir=None) -> list[Niveau]:
    """The cube's levels, finest first: the commune, then by decreasing number of territories (a rule from the
    data, so a new zoning finds its place), the département last. A level with a zoning file of the run's reference
    folder is a zoning: its wording (libelle_niveau) and provenance (source) come from that file."""
    files = {z.niveau: z for z in zonages.read_zonings(reference_dir)}
    known = cube[cube["code_territoire"] != "non_renseigne"]
    counts = known.groupby("niveau")["code_territoire"].nunique()
    out = []
    for niveau in sorted(cube["niveau"].unique()):
        nb = int(counts.get(niveau, 0))
        z = files.get(niveau)
        if z is None:
            out.append(_niveau_cog(niveau, nb))
            continue
        libelle = style.label("niveau", niveau)
        libelle = libelle if libelle != niveau else z.libelle_niveau[:1].upper() + z.libelle_niveau[1:]
        out.append(Niveau(niveau, z.libelle_niveau, libelle, True,
                          str(z.source or "").startswith("approximation"), nb))
    return sorted(out, key=lambda n: (n.niveau == "departement", n.niveau != "commune", -n.nb_territoires,
                                      n.niveau))


def load_context(tables: dict[str, Path], params: dict) -> ReportContext:
    tables = {k: Path(v) for k, v in tables.items()}
    cube = sel.load_public(tables, params)
    year = sel.current_year(cube, params)
    # synthetic if the run says so or if any input file says so: never publish a sample as real figures
    synthetic = bool(params.get("synthetic")) or any(
        sel.is_synthetic(p) for p in tables.values() if p.suffix == ".parquet" and p.exists())
    dep = sel.cells(cube, annee=year)
    names = dep["libelle_territoire"].dropna()
    nom = str(names.iloc[0]) if len(names) else f"département {params['departement']}"
    libelle, description = reference.perimetre_labels(params["perimetre"], params.get("reference_dir"))
    # the report's own French wording (reports/libelles.csv): the reference file's description names files
    description = style.label("perimetre_rapport", params["perimetre"]) if style.label(
        "perimetre_rapport", params["perimetre"]) != params["perimetre"] else description
    calibration = sel.read_table(tables, sel.CALIBRATION, ["annee", "groupe", "cible_publiee", "cible_fin_annee",
                                                           "total_cale", "statut"])
    audit = sel.read_table(tables, sel.AUDIT, ["rubrique", "perimetre", "nb_etablissements"])
    urssaf_table = sel.read_table(tables, sel.URSSAF, ["annee", "code_departement", "champ_ess", "famille_ess",
                                                        "effectifs_salaries"])
    urssaf = sel.urssaf_series(urssaf_table, params["departement"])
    urssaf_rows = sel.urssaf_rows(urssaf_table, params["departement"])
    ctx = ReportContext(
        params=params, cube=cube, year=year, synthetic=synthetic, nom_departement=nom, libelle_perimetre=libelle,
        description_perimetre=description, calibration=calibration, audit=audit, urssaf=urssaf,
        communes=_communes(tables, str(params["departement"]), params.get("annee_cog")),
        secret_rules=_secret_rules(params.get("reference_dir")), urssaf_rows=urssaf_rows,
        urssaf_comparaison=_comparison(tables, str(params["departement"])),
        niveaux=niveaux_du_cube(cube[cube["annee"] == year], params.get("reference_dir")),
        annees_tranches=sel.band_years(tables, params["perimetre"]),
        coverage=coverage_words.load(params.get("reference_dir"), params["perimetre"]),
    )
    if not ctx.calibrated:
        ctx.coverage = None  # measured on the calibrated estimate: an uncalibrated run's intervals were not tested
    return ctx
