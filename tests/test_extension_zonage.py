"""The worked change « a new zoning » (docs/CONTRIBUTING.md): ONE CSV file in a user's reference folder, no code.

A zoning `bassins_vie` splits the tiny sample's Isère communes in two by the parity of their code. The real steps
run on the sample (staging, core, outputs with the protection, the checks' re-audit, the report's context) with
`reference_dir` in their parameters, and:
- the new level is in the cube, its two zones (plus the establishments without a commune) sum exactly to the
  département in every row, and its counts are those counted by hand from core_etablissements;
- the confidentiality relations hold it (each zone = Σ its communes): the protection's groups and the re-audit's
  model include its cells, the re-audit passes, and no masked cell of it is the département minus the other zones;
- the report lists it with the wording of its file;
- data/reference/ is not modified.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from ess import db, paths
from sources.sample import TERRITORIES_YEAR, write_sample
from sources.sample import model as sample_model
from transforms import checks, core, outputs, secret_model, staging
from transforms import confidentiality as conf

SCALE = 0.02
LEVEL = "bassins_vie"


def _reference_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(paths.REFERENCE_DIR.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(paths.REFERENCE_DIR).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _isere_communes() -> list[str]:
    with (paths.REFERENCE_DIR / f"communes_{TERRITORIES_YEAR}.csv").open(encoding="utf-8") as fh:
        return sorted(r["code_commune"] for r in csv.DictReader(fh)
                      if r["code_departement"] == "38" and r["type"] == "commune")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    before = _reference_digest()
    root = tmp_path_factory.mktemp("zonage")
    # the worked change: one file, in the user's reference folder
    ref = root / "ma_reference"
    (ref / "zonages").mkdir(parents=True)
    lines = ["code_commune,code_zone,libelle_zone,libelle_niveau"]
    lines += [f"{c},B{int(c[-1]) % 2},Bassin {'impair' if int(c[-1]) % 2 else 'pair'},bassin de vie"
              for c in _isere_communes()]
    (ref / "zonages" / f"{LEVEL}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    sample = root / "sample"
    write_sample(sample, departement="38", seed=2012, scale=SCALE)
    params = {"departement": "38", "millesime": sample_model.MILLESIME, "annee_urssaf": sample_model.URSSAF_YEAR,
              "annee_cog": TERRITORIES_YEAR, "calage": True, "perimetre": "insee", "synthetic": True,
              "reference_dir": str(ref), "perimetres_cube": ["insee"], "secret_emploi_passe": False,
              "secret_processus": 1}
    tables: dict[str, Path] = {}
    for source, folder, extra in (
            ("territoires", sample / "territoires" / str(TERRITORIES_YEAR), {}),
            ("sirene", sample / "sirene" / sample_model.MILLESIME, {"departements": ["38"]}),
            ("urssaf", sample / "urssaf" / str(sample_model.URSSAF_YEAR), {"departements": ["38"]})):
        out = staging.stage_source(source, folder, {**params, **extra}, root / "staging" / source)
        tables.update({k: Path(v) for k, v in staging.departement_tables(out, "38").items()})
    tables.update(core.build_core(tables, params, root / "core").tables)
    built = outputs.build_outputs(tables, params, root / "out")
    tables.update({k: Path(v) for k, v in built.tables.items()})
    report = checks.check({k: str(v) for k, v in tables.items()}, params)
    after = _reference_digest()
    con = db.connect()
    db.attach_tables(con, tables)
    yield {"con": con, "tables": tables, "params": params, "checks": report, "stats": built.stats,
           "reference_unchanged": before == after}
    con.close()


def test_the_new_level_is_in_the_cube_and_sums_to_the_departement(run):
    con = run["con"]
    zones = con.execute("SELECT DISTINCT code_territoire, libelle_territoire FROM out_indicateurs WHERE niveau = ? "
                        "ORDER BY 1", [LEVEL]).fetchall()
    assert [z for z in zones if z[0] != "non_renseigne"] == [("B0", "Bassin pair"), ("B1", "Bassin impair")]
    # every row of the département is the sum of the zones' rows (establishments and employment)
    gaps = con.execute("""
        WITH z AS (SELECT famille, nomenclature_secteur, secteur, classe_taille, annee, perimetre,
                          sum(nb_etablissements) AS n, sum(effectif_central) AS e
                   FROM out_indicateurs WHERE niveau = ? GROUP BY ALL)
        SELECT count(*) FILTER (WHERE z.n IS DISTINCT FROM d.nb_etablissements
                                   OR abs(coalesce(z.e, 0) - coalesce(d.effectif_central, 0)) > 1e-6),
               count(*)
        FROM out_indicateurs AS d LEFT JOIN z USING (famille, nomenclature_secteur, secteur, classe_taille, annee,
                                                     perimetre)
        WHERE d.niveau = 'departement'""", [LEVEL]).fetchone()
    assert gaps[0] == 0 and gaps[1] > 100
    # the population of the zones is the département's
    pops = dict(con.execute("""
        SELECT niveau, sum(population) FROM out_indicateurs
        WHERE niveau IN (?, 'departement') AND famille = 'ensemble' AND nomenclature_secteur = 'ensemble'
          AND classe_taille = 'ensemble' AND annee = ? GROUP BY 1""",
                            [LEVEL, int(sample_model.MILLESIME[:4])]).fetchall())
    assert pops[LEVEL] == pops["departement"] > 0
    assert run["checks"]["reconciliation"] == []  # the check step says the same of every level


def test_the_zones_counts_are_the_establishments_counted_by_hand(run):
    con = run["con"]
    annee = int(sample_model.MILLESIME[:4])
    by_hand = dict(con.execute("""
        SELECT CASE WHEN code_commune IS NULL THEN 'non_renseigne'
                    ELSE 'B' || (CAST(right(code_commune, 1) AS INTEGER) % 2) END, count(*)
        FROM core_etablissements WHERE actif GROUP BY 1""").fetchall())
    cube = dict(con.execute("""
        SELECT code_territoire, nb_etablissements FROM out_indicateurs
        WHERE niveau = ? AND famille = 'ensemble' AND nomenclature_secteur = 'ensemble'
          AND classe_taille = 'ensemble' AND annee = ? AND perimetre = 'insee'""", [LEVEL, annee]).fetchall())
    assert by_hand["B0"] > 0 and by_hand["B1"] > 0
    assert {k: v for k, v in cube.items() if v} == {k: v for k, v in by_hand.items() if v}


def test_the_confidentiality_relations_hold_the_new_zones(run):
    con = run["con"]
    communes = outputs._commune_table(con)
    groups = dict(conf.territory_groups(communes))
    n_communes = len(_isere_communes())
    assert len(groups["bassins_vie:B0"]) + len(groups["bassins_vie:B1"]) == n_communes
    assert "commune:38185" in groups["bassins_vie:B1"] and "commune:38002" in groups["bassins_vie:B0"]
    # the re-audit's model of the employment year has the zones' cells, and the re-audit passes
    year = int(con.execute("SELECT max(annee) FROM out_indicateurs WHERE effectif_central IS NOT NULL").fetchone()[0])
    units = con.execute("SELECT * FROM out_secret_unites WHERE annee = ?", [year]).df()
    cube = outputs._year_cube(con, year, ["insee"])
    model = secret_model.build(units, cube, communes, ["insee"])
    assert (model.cells["niveau"] == LEVEL).sum() > 0
    audit = run["checks"]["audit_secret"]
    assert audit and all(a["ok"] for a in audit.values()) and run["checks"]["cellules_recalculables"] == 0
    # no published département total leaves exactly one of its zones masked (it would be a subtraction)
    public = con.execute("""
        SELECT annee, famille, code_territoire, niveau, statut_secret_effectifs <> 'publie' AS masque
        FROM out_indicateurs_public
        WHERE niveau IN (?, 'departement') AND nomenclature_secteur = 'ensemble' AND classe_taille = 'ensemble'
          AND effectif_central IS NOT NULL OR (niveau IN (?, 'departement')
          AND statut_secret_effectifs NOT IN ('publie', 'non_mesure')
          AND nomenclature_secteur = 'ensemble' AND classe_taille = 'ensemble')""", [LEVEL, LEVEL]).df()
    zones = public[public["niveau"] == LEVEL].groupby(["annee", "famille"])["masque"].sum()
    dep = public[public["niveau"] == "departement"].set_index(["annee", "famille"])["masque"]
    assert not any(zones.get(k, 0) == 1 and not masked for k, masked in dep.items())


def test_the_report_lists_the_new_level_with_the_files_wording(run):
    from reports.context import load_context
    from reports.text_pages import secret_rows

    ctx = load_context(run["tables"], run["params"])
    level = ctx.niveau(LEVEL)
    assert (level.zonage, level.par, level.libelle, level.nb_territoires) == (True, "bassin de vie",
                                                                              "Bassin de vie", 2)
    order = [n.niveau for n in ctx.niveaux]
    # finest first: commune, EPCI (18), territoire (13), zones d'emploi, arrondissements (3), bassins (2), département
    assert order[0] == "commune" and order[-1] == "departement" and order.index(LEVEL) == len(order) - 2
    assert "Bassin de vie" in [row[0] for row in secret_rows(ctx)]
    # the report's territory pages keep the finest zoning: the Département's territoires, an EPCI approximation
    assert ctx.niveau_territoires.niveau == "territoire" and ctx.territoires_approches


def test_data_reference_was_not_modified(run):
    assert run["reference_unchanged"]
