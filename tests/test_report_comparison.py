"""The département beside its région and France, from URSSAF's ESS file: staging_urssaf_ess_comparaison (a second
read of every row of the file) and the report's table built from it, on a hand-made file.

File (years 2023 and 2024; région 84 = Auvergne-Rhône-Alpes, 12 départements in the reference; 75 in région 11):
    38  associations 100 (masse 2 000 000), coopératives 10 (300 000), mutuelles 5 (150 000), fondations 5 (150 000),
        hors ESS 880 (30 000 000); in 2024 every headcount × 1.1 and every wage bill × 1.1
    73  associations 50, coopératives 0, mutuelles 0, fondations 0 (2023) / not published (2024), hors ESS 450
    75  an « Ensemble ESS » total row 500 (masse 15 000 000) and hors ESS 4 500 (180 000 000), both years
    a row without a valid département code (rejected by the département staging, ignored by the comparison)
"""

from __future__ import annotations

import numpy as np
import pytest

import test_urssaf as U
from reports import urssaf_compare
from reports.synthesis_pages import comparison_territory_rows
from sources import urssaf


def _rows():
    rows = []
    for year, k in ((2023, 1.0), (2024, 1.1)):
        for famille, eff, masse in (("Associations", 100, 2_000_000), ("Coopératives", 10, 300_000),
                                    ("Mutuelles", 5, 150_000), ("Fondations", 5, 150_000)):
            rows.append(U._ess_row("38", "Oui", famille, year, "1", f"{eff * k:.1f}", f"{masse * k:.0f}"))
        rows.append(U._ess_row("38", "Non", "Hors ESS", year, "1", f"{880 * k:.1f}", f"{30_000_000 * k:.0f}"))
        for famille, eff in (("Associations", 50), ("Coopératives", 0), ("Mutuelles", 0),
                             ("Fondations", 0 if year == 2023 else None)):
            rows.append(U._ess_row("73", "Oui", famille, year, "1", "" if eff is None else str(eff),
                                   "" if eff is None else str(eff * 20_000)))
        rows.append(U._ess_row("73", "Non", "Hors ESS", year, "1", "450", "9000000"))
        rows.append(U._ess_row("75", "Oui", "Ensemble ESS", year, "1", "500", "15000000"))
        rows.append(U._ess_row("75", "Non", "Hors ESS", year, "1", "4500", "180000000"))
    rows.append(U._ess_row("xx", "Oui", "Associations", 2024, "1", "7", "7"))
    return rows


@pytest.fixture
def staged(tmp_path):
    con, stats = U._load(U._snapshot(tmp_path, ess_rows=_rows()))
    frame = con.execute(f"SELECT * FROM {urssaf.COMPARISON_TABLE} ORDER BY niveau, annee").df()
    return frame, stats


def test_comparison_sums_the_region_and_france_without_partial_sums(staged):
    frame, stats = staged
    at = frame.set_index(["niveau", "annee"])
    assert at.loc[("departement", 2023), "effectifs_ess"] == 120  # the four families
    assert at.loc[("departement", 2023), "masse_salariale_ess"] == 2_600_000
    assert at.loc[("departement", 2024), "effectifs_ess"] == pytest.approx(132)
    # région 84 in 2023: Isère 120 + Savoie 50 (2 of its 12 départements in the file)
    assert at.loc[("region", 2023), "effectifs_ess"] == 170
    assert at.loc[("region", 2023), "effectifs_hors_ess"] == 880 + 450
    assert (at.loc[("region", 2023), "code_territoire"], at.loc[("region", 2023), "libelle_territoire"]) == (
        "84", "Auvergne-Rhône-Alpes")
    assert (at.loc[("region", 2023), "nb_departements"], at.loc[("region", 2023), "nb_departements_reference"]) \
        == (2, 12)
    # France in 2023: + Paris' own ESS total row (500)
    assert at.loc[("france", 2023), "effectifs_ess"] == 670
    assert at.loc[("france", 2023), "nb_departements"] == 3
    # 2024: Savoie's fondations are not published -> no ESS total for the région nor France (never a partial sum),
    # while their rest of the economy is still summed
    assert np.isnan(at.loc[("region", 2024), "effectifs_ess"]) and np.isnan(at.loc[("france", 2024), "effectifs_ess"])
    assert at.loc[("france", 2024), "effectifs_hors_ess"] == pytest.approx(880 * 1.1 + 450 + 4500)
    # the département's accounting is unchanged by the second read: of the file's 25 rows, its 10 are staged, the
    # other départements' 14 and the row without a code (rejected once, nationally) are outside its scope
    ess = stats["staging_urssaf_ess_departement"]
    assert (ess.rows_read, ess.rows_staged, ess.rows_out_of_scope, ess.rejected_total) == (25, 10, 15, 0)


def test_report_table_of_the_departement_region_and_france(staged):
    frame, _ = staged
    rows, first, last = urssaf_compare.territories(frame)
    assert (first, last) == (2023, 2024)
    got = rows.set_index("niveau")
    assert got.at["departement", "part_ess_emploi_prive"] == pytest.approx(132 / (132 + 968))
    assert got.at["departement", "evolution_ess"] == pytest.approx(0.1)
    assert got.at["departement", "salaire_moyen_ess"] == pytest.approx(2_860_000 / 132)
    # a région or France the file does not hold whole is « n.d. », never a partial total under its name
    assert got.at["region", "libelle"] == ("Région Auvergne-Rhône-Alpes : n.d. (fichier URSSAF incomplet, 2 "
                                           "départements sur 12)")
    assert got.at["france", "libelle"] == "France : n.d. (fichier URSSAF incomplet, 3 départements sur 101)"
    assert got.loc[["region", "france"], urssaf_compare.MEASURE_COLUMNS].isna().all().all()
    nb = "\u00a0"
    table = comparison_territory_rows(rows)
    assert table[0] == ["Isère", f"12,0{nb}%", f"+10,0{nb}%", f"+10,0{nb}%", f"21{nb}667{nb}€", f"34{nb}091{nb}€"]
    assert table[1][1:] == table[2][1:] == ["n.d."] * 5


def test_a_whole_region_is_summed_and_a_row_of_the_same_coverage_is_left_out():
    import pandas as pd

    def row(niveau, code, nb, ref, ess, hors):
        return {"annee": 2024, "niveau": niveau, "code_territoire": code, "libelle_territoire": code,
                "nb_departements": nb, "nb_departements_reference": ref, "effectifs_ess": ess,
                "masse_salariale_ess": 20.0 * ess, "effectifs_hors_ess": hors, "masse_salariale_hors_ess": 30.0 * hors}
    # a région of one département (its figures are the département's) and a France of 100 départements
    frame = pd.DataFrame([row("departement", "971", 1, 1, 10.0, 90.0), row("region", "01", 1, 1, 10.0, 90.0),
                          row("france", "FR", 100, 101, 300.0, 700.0)])
    rows, _, _ = urssaf_compare.territories(frame)
    assert rows["libelle"].tolist() == ["971", "France (hors Mayotte)"]
    assert rows["part_ess_emploi_prive"].tolist() == pytest.approx([0.1, 0.3])
    # a région held whole is named and summed
    frame = pd.DataFrame([row("departement", "38", 1, 1, 10.0, 90.0), row("region", "ARA", 12, 12, 50.0, 150.0)])
    rows, _, _ = urssaf_compare.territories(frame)
    assert rows["libelle"].tolist() == ["38", "Région ARA"]
    assert rows["part_ess_emploi_prive"].tolist() == pytest.approx([0.1, 0.25])


def test_a_whole_france_is_named_france():
    import pandas as pd

    row = pd.Series({"libelle_territoire": "France", "code_territoire": "FR", "nb_departements": 100,
                     "nb_departements_reference": 101})
    assert urssaf_compare._label("france", row) == "France (hors Mayotte)"
    row["nb_departements"] = 101
    assert urssaf_compare._label("france", row) == "France"


def test_the_pdf_shows_the_comparison_table(staged, tmp_path):
    import test_report as R
    from reports import annual

    frame, _ = staged
    tables = R.make_tables(tmp_path / "in")
    tables[urssaf.COMPARISON_TABLE] = R._write(frame, tmp_path / "in" / f"{urssaf.COMPARISON_TABLE}.parquet")
    stats = annual.build_report(tables, R.PARAMS, tmp_path / "out").stats["rapport"]
    text = " ".join("\n".join(R.pdf_page_texts(__import__("pathlib").Path(stats["pdf"]))).split())
    assert "Le département, sa région et la France, en 2024 (URSSAF ; évolution depuis 2023)" in text
    # the wrapped label (one PDF text line per cell line)
    assert "fichier URSSAF incomplet" in text and "Départements du fichier" not in text
    assert "ces comparaisons ne sont donc pas présentées" not in text
