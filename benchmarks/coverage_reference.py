"""The measured coverage of the 90 % intervals, as a versioned reference file: the report and the warehouse print
what was measured, never a figure typed into their code.

    python -m benchmarks.coverage_reference CSV [CSV_SANS_EXCEPTIONS] --out data/reference/couverture_intervalles.csv
        [--scale 0.25] [--date YYYY-MM-DD] [--version-generateur X.Y.Z]

CSV is the `--csv` file of a `python -m benchmarks.coverage … --toutes-annees` run (one line per seed × level ×
territory × indicator × year: graine, niveau, code_territoire, indicateur, central, bas, haut, vrai,
vrai_exceptions, annee; a file without `niveau` is the département's) on worlds with the exceptions to URSSAF's
field (the generator's default); CSV_SANS_EXCEPTIONS, optional, the same with `--sans-exceptions`. Each becomes one
row per level × indicator × scope: the employment year (`annee_emploi`: the last year of the cells) and the past
years (`annees_passees`, cells = seeds × years × the level's territories), with the cells, those whose interval
holds the truth, the 90 %
Clopper–Pearson interval of that coverage, the mean relative bias and the median relative half-width
(benchmarks/coverage.summarise, the figures its printout gives), and the provenance: generator version, seeds,
scale, exceptions or not, date of the measurement, the command that measured it.

A coverage CSV does not record its scale nor the generator that drew its worlds: `--scale` (default 0.25, that of
benchmarks.coverage) and `--version-generateur` (default: the generator of this checkout, sources/sample
GENERATOR_VERSION) say them; measure and summarise from the same checkout. The date is the CSV's modification day
(the measurement's, not today's) unless `--date` gives it. The file is read back and checked (transforms/
referentiels.read_coverage) before it replaces the old one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

# benchmarks.coverage sums the ESS of one perimeter (PERIMETRE): the measure is that perimeter's, and the report
# of a run in another perimeter says its coverage was not measured
from benchmarks.coverage import PERIMETRE, summarise

CELL_COLUMNS = ("graine", "indicateur", "central", "bas", "haut", "vrai", "annee")
DEPARTEMENT = "departement"
# What each indicator of benchmarks/coverage.py measures, and which published interval columns it tries, at the
# département's level (below it: territory_words).
INDICATORS = {
    "emploi_ess": ("Emploi salarié de l'ESS au 31/12, département",
                   "out_indicateurs_public.effectif_ic90_bas, effectif_ic90_haut (niveau departement, famille ess)"),
    "emploi_associations": ("Emploi salarié des associations au 31/12, département",
                            "out_indicateurs_public.effectif_ic90_bas, effectif_ic90_haut (niveau departement, "
                            "famille associations)"),
    "emploi_cooperatives": ("Emploi salarié des coopératives au 31/12, département",
                            "out_indicateurs_public.effectif_ic90_bas, effectif_ic90_haut (niveau departement, "
                            "famille cooperatives)"),
    "emploi_mutuelles": ("Emploi salarié des mutuelles au 31/12, département",
                         "out_indicateurs_public.effectif_ic90_bas, effectif_ic90_haut (niveau departement, "
                         "famille mutuelles)"),
    "emploi_fondations": ("Emploi salarié des fondations au 31/12, département",
                          "out_indicateurs_public.effectif_ic90_bas, effectif_ic90_haut (niveau departement, "
                          "famille fondations)"),
    "part_prive": ("Part de l'ESS dans l'emploi salarié privé du champ de l'URSSAF, département",
                   "out_indicateurs_public.part_effectif_prive_ic90_bas, part_effectif_prive_ic90_haut (niveau "
                   "departement, famille ess)"),
    "part_total": ("Part de l'ESS dans l'emploi salarié de tous les employeurs, département",
                   "out_indicateurs_public.part_effectif_total_ic90_bas, part_effectif_total_ic90_haut (niveau "
                   "departement, famille ess)"),
}
# the families' converted targets of the calibration (core_calibration, internal): cible_<groupe>
TARGET = ("Cible de calage au 31/12 du groupe « {groupe} » (moyenne annuelle de l'URSSAF convertie), département",
          "core_calibration.cible_fin_annee ± 1,645 × ecart_type_cible (groupe {groupe})")
SCOPES = ("annee_emploi", "annees_passees")
# Levels whose past years' employment stays in the internal cube (transforms/outputs.in_scope_past): their past rows
# measure out_indicateurs' intervals, which a reader of the public table does not see
UNPUBLISHED_PAST = ("commune",)
COLUMNS = ("indicateur", "libelle_indicateur", "colonnes_mesurees", "niveau", "perimetre", "portee", "annee_debut",
           "annee_fin", "cellules", "cellules_couvertes", "cellules_vrai_nul", "cellules_vrai_nul_couvertes",
           "couverture_ic90_bas", "couverture_ic90_haut",
           "biais_relatif_moyen", "demi_largeur_relative_mediane", "version_generateur", "premiere_graine",
           "nb_graines", "echelle_echantillon", "exceptions_champ_urssaf", "date_mesure", "commande_mesure")


def read_cells(path: Path) -> pd.DataFrame:
    cells = pd.read_csv(path)
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise SystemExit(f"{path}: columns {missing} are missing (a `python -m benchmarks.coverage --csv` file has "
                         f"{list(CELL_COLUMNS)})")
    if cells.empty:
        raise SystemExit(f"{path}: no cell")
    if "niveau" not in cells:  # measured before the territories: the département's cells
        cells = cells.assign(niveau=DEPARTEMENT)
    return cells


def describe(indicateur: str, niveau: str = DEPARTEMENT, portee: str = "annee_emploi") -> tuple[str, str]:
    if niveau != DEPARTEMENT:
        return territory_words(indicateur, niveau, portee)
    if indicateur in INDICATORS:
        return INDICATORS[indicateur]
    if indicateur.startswith("cible_"):
        groupe = indicateur.removeprefix("cible_")
        return TARGET[0].format(groupe=groupe), TARGET[1].format(groupe=groupe)
    return indicateur, ""


def territory_words(indicateur: str, niveau: str, portee: str = "annee_emploi") -> tuple[str, str]:
    """The département's label and columns said of each territory of `niveau` (and `portee`: the communes' past
    years are not published)."""
    if indicateur not in INDICATORS:
        return indicateur, ""
    libelle, colonnes = INDICATORS[indicateur]
    colonnes = colonnes.replace("niveau departement", f"niveau {niveau}")
    if indicateur == "part_prive":  # published at the département only (METHOD.md § 6): the internal cube's one
        colonnes = colonnes.replace("out_indicateurs_public.", "out_indicateurs.") + ", non publiée à ce niveau"
    elif niveau in UNPUBLISHED_PAST and portee == "annees_passees":
        colonnes = (colonnes.replace("out_indicateurs_public.", "out_indicateurs.")
                    + ", non publiée à ce niveau les années passées")
    return libelle.replace(", département", f", chaque territoire du niveau {niveau}"), colonnes


def coverage_command(cells: pd.DataFrame, scale: float, exceptions: bool) -> str:
    """The benchmarks.coverage command that measures these cells again."""
    seeds = sorted(cells["graine"].unique())
    first, n = int(seeds[0]), len(seeds)
    return (f"python -m benchmarks.coverage --seeds {n}" + (f" --first-seed {first}" if first != 1 else "")
            + f" --scale {scale:g}" + (" --toutes-annees" if cells["annee"].nunique() > 1 else "")
            + ("" if exceptions else " --sans-exceptions") + " --csv FICHIER")


def reference_rows(cells: pd.DataFrame, *, exceptions: bool, scale: float, generator: str, day: dt.date,
                   perimetre: str = PERIMETRE) -> pd.DataFrame:
    """One row per level × indicator × scope of one coverage run's cells."""
    if "niveau" not in cells:
        cells = cells.assign(niveau=DEPARTEMENT)
    seeds = sorted(int(s) for s in cells["graine"].unique())
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise SystemExit(f"the seeds {seeds} are not consecutive: benchmarks.coverage runs first-seed … + N − 1")
    last = int(cells["annee"].max())
    command = coverage_command(cells, scale, exceptions)
    out = []
    for portee, part in (("annee_emploi", cells[cells["annee"] == last]), ("annees_passees", cells[cells["annee"]
                                                                                                    < last])):
        if part.empty:
            continue
        years = part.groupby(["niveau", "indicateur"])["annee"].agg(["min", "max"])
        seeds_of = part.groupby("niveau")["graine"].agg(["min", "nunique"])  # a level may have fewer seeds
        for r in summarise(part).itertuples():
            libelle, colonnes = describe(r.indicateur, r.niveau, portee)
            key = (r.niveau, r.indicateur)
            out.append({
                "indicateur": r.indicateur, "libelle_indicateur": libelle, "colonnes_mesurees": colonnes,
                "niveau": r.niveau, "perimetre": perimetre, "portee": portee,
                "annee_debut": int(years.at[key, "min"]), "annee_fin": int(years.at[key, "max"]),
                "cellules": int(r.cellules),
                "cellules_couvertes": int(r.dans_ic90), "cellules_vrai_nul": int(r.vrai_nul),
                "cellules_vrai_nul_couvertes": int(r.vrai_nul_dans_ic90),
                "couverture_ic90_bas": round(r.couverture_bas, 4),
                "couverture_ic90_haut": round(r.couverture_haut, 4), "biais_relatif_moyen": round(r.biais_moyen, 5),
                "demi_largeur_relative_mediane": round(r.demi_largeur_mediane, 5), "version_generateur": generator,
                "premiere_graine": int(seeds_of.at[r.niveau, "min"]),
                "nb_graines": int(seeds_of.at[r.niveau, "nunique"]), "echelle_echantillon": scale,
                "exceptions_champ_urssaf": "true" if exceptions else "false", "date_mesure": day.isoformat(),
                "commande_mesure": command})
    return pd.DataFrame(out, columns=list(COLUMNS))


def main(argv: list[str] | None = None) -> int:
    from sources.sample import GENERATOR_VERSION
    from transforms import referentiels

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", type=Path, help="cells of a benchmarks.coverage run with the exceptions (--csv)")
    p.add_argument("csv_sans_exceptions", type=Path, nargs="?", help="the same run with --sans-exceptions")
    p.add_argument("--out", type=Path, required=True, help="the reference file to write")
    p.add_argument("--scale", type=float, default=0.25, help="the --scale of the coverage run (default 0.25)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="day of the measurement (default: the CSV's)")
    p.add_argument("--perimetre", default=PERIMETRE, help=f"perimeter of the ESS measured (default {PERIMETRE})")
    p.add_argument("--version-generateur", default=GENERATOR_VERSION,
                   help=f"generator that drew the worlds (default: this checkout's, {GENERATOR_VERSION})")
    args = p.parse_args(argv)
    frames = []
    for path, exceptions in ((args.csv, True), (args.csv_sans_exceptions, False)):
        if path is None:
            continue
        day = args.date or dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).date()
        frames.append(reference_rows(read_cells(path), exceptions=exceptions, scale=args.scale,
                                     generator=args.version_generateur, day=day, perimetre=args.perimetre))
    table = pd.concat(frames, ignore_index=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    table.to_csv(tmp, index=False, lineterminator="\n")
    try:
        rows = referentiels.read_coverage(tmp.parent, file=tmp.name)  # the checks the report and publication make
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(args.out)
    print(f"{args.out}: {len(rows)} rows ({', '.join(sorted({r['portee'] for r in rows}))}), generator "
          f"{args.version_generateur}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
