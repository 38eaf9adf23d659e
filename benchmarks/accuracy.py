"""How far the published employment figures are from the synthetic sample's ground truth — a truth the estimator
does not share (sources/sample/employment.py draws it; the pipeline only sees the SIRENE and URSSAF files).

For the employment year Y of the run (the latest year of the internal cube with employment), at each level —
département, ESS family, territoire, EPCI, family × territoire, ESS sector × département, communes with at least
50 true ESS jobs — the ESS employment of one perimeter (`--perimetre`, default `insee`; one the sample's truth
knows: its generator decides membership with its own rules, sources/sample/truth.PERIMETRES) of every cell: number of cells, mean and maximum relative
error of the central value, coverage of the 90 % interval (share of cells whose truth lies inside), median
half-width relative to the central value; then the same for the ESS share of all salaried employment and of the
private employment of URSSAF's field.

Then, for the past years (2012 to Y − 1), ESS employment and its two shares per level over all cells × years: mean
absolute and signed relative error, coverage, cells outside their interval, median half-width, and the cell with
the largest error (its key and year).

`python -m benchmarks.accuracy --data-dir DIR` prints the tables; `--write-method` also rewrites METHOD.md's
accuracy table (between its markers), so the table is never typed by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ess import paths
from sources.sample.truth import PERIMETRES, in_perimetre
from transforms import reference

MARK_START = "<!-- precision:debut (benchmarks/accuracy.py --write-method) -->"
MARK_END = "<!-- precision:fin -->"
LEVELS = [  # label, cube niveau, cube famille, nomenclature, group-by columns of the truth, min true jobs
    ("département", "departement", "ess", "ensemble", ["dep"], 0),
    ("famille (département)", "departement", "familles", "ensemble", ["dep", "famille"], 0),
    ("territoire", "territoire", "ess", "ensemble", ["code_territoire"], 0),
    ("EPCI", "epci", "ess", "ensemble", ["code_epci"], 0),
    ("famille × territoire", "territoire", "familles", "ensemble", ["code_territoire", "famille"], 0),
    ("secteur × département", "departement", "ess", "ess", ["dep", "secteur"], 0),
    ("communes ≥ 50 emplois ESS", "commune", "ess", "ensemble", ["code_commune"], 50),
]
FAMILLES = ("associations", "cooperatives", "mutuelles", "fondations", "autres_organismes",
            "societes_commerciales_ess")


def _latest_run(data_dir: Path, departement: str) -> Path:
    runs = sorted(p.parent for p in (data_dir / "runs" / f"dep{departement}").glob("*/manifest.json"))
    if not runs:
        raise SystemExit(f"no finished run under {data_dir / 'runs' / f'dep{departement}'}: run `ess run` first")
    return runs[-1]


def load(data_dir: Path, departement: str, perimetre: str = "insee",
         all_years: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The internal cube of one perimeter and the truth of the employment year (every year with employment when
    `all_years`), with each truth row's cells and whether it is in that perimeter (`dans_perimetre`)."""
    run = _latest_run(data_dir, departement)
    cube_file = next(run.glob("*/out_indicateurs.parquet"))
    con = duckdb.connect()
    cube = con.execute("SELECT * FROM read_parquet(?) WHERE perimetre = ?", [str(cube_file), perimetre]).df()
    if cube.empty:
        raise SystemExit(f"{cube_file} has no row for perimeter {perimetre!r}")
    year = int(cube.loc[cube["effectif_central"].notna(), "annee"].max())
    years = sorted(int(y) for y in cube.loc[cube["effectif_central"].notna(), "annee"].unique())
    cube = cube[cube["annee"].isin(years if all_years else [year])]
    # out_cube_communes is long (commune × niveau): one column code_<niveau> per level (code_territoire: the
    # zoning `territoire`)
    communes = pd.read_parquet(next(run.glob("*/out_cube_communes.parquet")))
    communes = (communes[communes["niveau"] != "commune"]
                .pivot(index="code_commune", columns="niveau", values="code_territoire")
                .add_prefix("code_").reset_index())
    truth_dir = data_dir / "sample" / f"dep{departement}" / "ground_truth"
    truth = pd.read_parquet(truth_dir / "effectifs_annuels.parquet")
    truth = truth[truth["annee"].isin(years if all_years else [year])
                  & (truth["localisation"] == "departement")].copy()
    truth = truth.merge(communes, on="code_commune", how="left")
    sectors = pd.Series({r["division"]: r["secteur_ess"] for r in reference.read_reference("secteurs_ess")
                         if r["nomenclature"] == "NAFRev2"})
    truth["secteur"] = truth["activite"].str[:2].map(sectors).fillna("non_renseigne")
    truth["dep"] = departement
    truth["dans_perimetre"] = in_perimetre(truth["perimetres"], perimetre)
    truth["famille"] = truth["famille_ess"].where(truth["dans_perimetre"], "hors_ess")
    return cube, truth, year


def _estimates(cube: pd.DataFrame, niveau: str, famille: str, nomenclature: str) -> pd.DataFrame:
    rows = cube[(cube["niveau"] == niveau) & (cube["nomenclature_secteur"] == nomenclature)
                & (cube["classe_taille"] == "ensemble")]
    rows = rows[rows["famille"].isin(FAMILLES) if famille == "familles" else rows["famille"] == famille]
    if nomenclature == "ensemble":
        rows = rows[rows["secteur"] == "ensemble"]
    else:
        rows = rows[rows["secteur"] != "ensemble"]
    return rows


def _key(rows: pd.DataFrame, keys: list[str], departement: str) -> pd.Series:
    """The cube rows' key in the truth's group-by columns."""
    parts = []
    for k in keys:
        if k == "dep":
            parts.append(pd.Series(departement, index=rows.index))
        elif k == "famille":
            parts.append(rows["famille"])
        elif k == "secteur":
            parts.append(rows["secteur"])
        else:
            parts.append(rows["code_territoire"])
    return pd.Series(list(zip(*parts)), index=rows.index)


MEASURES = {"emploi": ("central", "bas", "haut", "vrai"),
            "part (tous employeurs)": ("part", "part_bas", "part_haut", "part_vraie"),
            "part (privé URSSAF)": ("part_privee", "part_privee_bas", "part_privee_haut", "part_privee_vraie")}


def level_table(cube: pd.DataFrame, truth: pd.DataFrame, departement: str) -> pd.DataFrame:
    """Per level and measure (one year): cells, mean and max relative error, coverage, median half-width."""
    out = []
    for label, df in level_cells(cube, truth, departement):
        for measure, (c, lo, hi, t) in MEASURES.items():
            ok = df[t].notna() & df[c].notna() & (df[t] > 0) if len(df) else pd.Series(dtype=bool)
            d = df[ok] if len(df) else df
            err = (d[c] - d[t]).abs() / d[t] if len(d) else pd.Series(dtype=float)
            out.append({
                "niveau": label, "mesure": measure, "cellules": int(len(d)),
                "erreur_moyenne": float(err.mean()) if len(d) else np.nan,
                "erreur_max": float(err.max()) if len(d) else np.nan,
                "couverture_ic90": float(((d[t] >= d[lo]) & (d[t] <= d[hi])).mean()) if len(d) else np.nan,
                "demi_largeur_mediane": float(((d[hi] - d[lo]) / 2 / d[c]).median()) if len(d) else np.nan,
            })
    return pd.DataFrame(out)


PAST_LEVELS = ("département", "famille (département)", "territoire", "EPCI", "famille × territoire",
               "secteur × département")


def past_table(cube: pd.DataFrame, truth: pd.DataFrame, departement: str, years: list[int]) -> pd.DataFrame:
    """Per level and measure (ESS employment and its two shares), over the given years (cells = level's cells ×
    years): mean signed and absolute relative error, coverage of the 90 % interval, median half-width, and the cell
    with the largest error (its key and year). Levels in PAST_LEVELS order, measures in MEASURES order."""
    per_level: dict[str, list[pd.DataFrame]] = {}
    for y in years:  # each year's cells are made once, for every measure
        for label, df in level_cells(cube[cube["annee"] == y], truth[truth["annee"] == y], departement):
            if label in PAST_LEVELS and len(df):
                per_level.setdefault(label, []).append(df.assign(annee=y))
    out = []
    for label in (lv for lv in PAST_LEVELS if lv in per_level):
        cells = pd.concat(per_level[label], ignore_index=True)
        for measure, (c, lo, hi, t) in MEASURES.items():
            d = cells[cells[t].notna() & cells[c].notna() & (cells[t] > 0)]
            if d.empty:
                continue
            err = (d[c] - d[t]) / d[t]
            # a cell without its interval does not cover the truth
            miss = ~((d[t] >= d[lo]) & (d[t] <= d[hi]))
            worst = err.abs().idxmax()
            out.append({
                "niveau": label, "mesure": measure, "cellules": int(len(d)), "erreur_moyenne": float(err.abs().mean()),
                "biais_moyen": float(err.mean()), "couverture_ic90": float(1 - miss.mean()),
                "demi_largeur_mediane": float(((d[hi] - d[lo]) / 2 / d[c]).median()),
                "hors_intervalle": int(miss.sum()),
                "pire": f"{'/'.join(map(str, d.loc[worst, 'cle']))} {int(d.loc[worst, 'annee'])} "
                        f"({100 * err[worst]:+.1f} %)".replace(".", ","),
            })
    return pd.DataFrame(out)


def level_cells(cube: pd.DataFrame, truth: pd.DataFrame, departement: str):
    """(level label, one row per cell: key, truth and estimates of the three measures) for each level."""
    ess = truth[truth["dans_perimetre"]]
    for label, niveau, famille, nomenclature, keys, minimum in LEVELS:
        rows = _estimates(cube, niveau, famille, nomenclature)
        est = dict(zip(_key(rows, keys, departement), rows.to_dict("records")))
        t_ess = ess.groupby(keys)["effectif_fin_annee"].sum()
        t_all = truth.groupby([k for k in keys if k != "famille"])["effectif_fin_annee"].sum()
        t_field = truth[truth["champ_urssaf"]].groupby([k for k in keys if k != "famille"])["effectif_fin_annee"].sum()
        t_ess_field = ess[ess["champ_urssaf"]].groupby(keys)["effectif_fin_annee"].sum()
        t_ess.index = [k if isinstance(k, tuple) else (k,) for k in t_ess.index]
        t_ess_field.index = [k if isinstance(k, tuple) else (k,) for k in t_ess_field.index]
        t_all.index = [k if isinstance(k, tuple) else (k,) for k in t_all.index]
        t_field.index = [k if isinstance(k, tuple) else (k,) for k in t_field.index]
        cells = sorted(set(t_ess.index) | set(est))
        rec = []
        for k in cells:
            true = float(t_ess.get(k, 0.0))
            if true < max(minimum, 1):
                continue
            denominator_key = tuple(x for x, name in zip(k, keys) if name != "famille")
            r = est.get(k)
            rec.append({
                "cle": k, "vrai": true, "central": float(r["effectif_central"]) if r is not None else 0.0,
                "bas": float(r["effectif_ic90_bas"]) if r is not None else 0.0,
                "haut": float(r["effectif_ic90_haut"]) if r is not None else 0.0,
                "part_vraie": true / float(t_all.get(denominator_key, np.nan)),
                "part": r["part_effectif_total_central"] if r is not None else np.nan,
                "part_bas": r["part_effectif_total_ic90_bas"] if r is not None else np.nan,
                "part_haut": r["part_effectif_total_ic90_haut"] if r is not None else np.nan,
                "part_privee_vraie": float(t_ess_field.get(k, 0.0)) / float(t_field.get(denominator_key, np.nan)),
                "part_privee": r["part_effectif_prive_central"] if r is not None else np.nan,
                "part_privee_bas": r["part_effectif_prive_ic90_bas"] if r is not None else np.nan,
                "part_privee_haut": r["part_effectif_prive_ic90_haut"] if r is not None else np.nan,
            })
        yield label, pd.DataFrame(rec)


def _pct(x) -> str:
    return "—" if pd.isna(x) else f"{100 * x:.1f} %".replace(".", ",")


def _markdown(intro: str, columns: list[str], aligns: str, rows: list[list]) -> str:
    """`intro`, a blank line, then a Markdown table (`aligns`: one '-' or ':' per column, right-aligned when ':')."""
    rule = "|" + "|".join("---:" if a == ":" else "---" for a in aligns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join([intro, "", "| " + " | ".join(columns) + " |", rule, *body])


def markdown(table: pd.DataFrame, year: int, perimetre: str = "insee") -> str:
    pct = _pct
    return _markdown(
        f"Emploi de l'ESS (périmètre `{perimetre}`) au 31/12/{year}, échantillon synthétique (Isère, échelle 1) ; "
        "erreur relative de l'estimation centrale, couverture de l'intervalle à 90 % (part des cellules dont "
        "la vraie valeur est dans l'intervalle), demi-largeur médiane de l'intervalle rapportée à l'estimation.",
        ["niveau", "mesure", "cellules", "erreur moyenne", "erreur max", "couverture IC 90 %", "demi-largeur médiane"],
        "--:::::",
        [[r.niveau, r.mesure, r.cellules, pct(r.erreur_moyenne), pct(r.erreur_max), pct(r.couverture_ic90),
          pct(r.demi_largeur_mediane)] for r in table.itertuples()])


def markdown_past(table: pd.DataFrame, years: list[int], perimetre: str = "insee") -> str:
    pct = _pct
    return _markdown(
        f"Les années passées ({years[0]}–{years[-1]}), même échantillon et même périmètre `{perimetre}` : emploi "
        "de l'ESS au 31/12 de chaque année et ses deux parts, cellules = cellules du niveau × années ; biais "
        "moyen = erreur relative signée moyenne ; la cellule de plus grande erreur relative, avec son année.",
        ["niveau", "mesure", "cellules", "erreur moyenne", "biais moyen", "couverture IC 90 %", "hors intervalle",
         "demi-largeur médiane", "plus grande erreur"],
        "--::::::-",
        [[r.niveau, r.mesure, r.cellules, pct(r.erreur_moyenne), pct(r.biais_moyen), pct(r.couverture_ic90),
          r.hors_intervalle, pct(r.demi_largeur_mediane), r.pire] for r in table.itertuples()])


def write_method(text: str, method: Path = paths.ROOT / "METHOD.md") -> None:
    content = method.read_text(encoding="utf-8")
    if MARK_START not in content or MARK_END not in content:
        raise SystemExit(f"{method}: markers {MARK_START!r} … {MARK_END!r} not found")
    head, rest = content.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    method.write_text(f"{head}{MARK_START}\n{text}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="the ESS_DATA_DIR of a finished run on the sample")
    p.add_argument("--departement", default="38")
    p.add_argument("--perimetre", default="insee", choices=PERIMETRES,
                   help="the perimeter compared (one the sample's truth knows; default insee)")
    p.add_argument("--write-method", action="store_true", help="rewrite METHOD.md's accuracy table")
    args = p.parse_args(argv)
    if args.write_method and args.perimetre != "insee":
        p.error("--write-method describes the default perimeter: use it with --perimetre insee")
    cube, truth, year = load(args.data_dir, args.departement, args.perimetre, all_years=True)
    table = level_table(cube[cube["annee"] == year], truth[truth["annee"] == year], args.departement)
    past_years = sorted(int(y) for y in cube.loc[cube["effectif_central"].notna(), "annee"].unique() if y < year)
    past = past_table(cube, truth, args.departement, past_years) if past_years else None
    with pd.option_context("display.width", 220, "display.max_columns", 12):
        print(f"accuracy against the sample's truth, perimeter {args.perimetre}, employment on 31/12/{year}:")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        if past is not None:
            print(f"\npast years {past_years[0]}–{past_years[-1]} (ESS employment and shares, cells × years):")
            print(past.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.write_method:
        text = markdown(table, year, args.perimetre)
        if past is not None:
            text += "\n\n" + markdown_past(past, past_years, args.perimetre)
        write_method(text)
        print("METHOD.md accuracy table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
