"""The SQL build order is read from the SQL files (ess/sql_order.py): on the real sql/ folder and on toy folders."""

import pytest

from ess import sql_order
from ess.sql_order import BuildOrderError

CORE_INPUTS = {
    "staging_sirene_etablissements", "staging_sirene_unites_legales", "staging_communes",
    "staging_sirene_etablissements_historique", "staging_sirene_unites_legales_historique",
    "staging_communes_passage", "staging_urssaf_ess_departement", "staging_urssaf_commune_ape",
    "ref_champ_urssaf", "ref_secteurs_ess", "ref_tranches_effectifs", "ref_categories_juridiques",
    "ref_perimetre_exclusions_naf", "ref_perimetre_familles", "ref_perimetres",
}


def test_parsing_ignores_ctes_comments_strings_and_other_names():
    sql = """
    -- reads core_commentaire in a comment: not a table
    /* FROM core_bloc */
    WITH core_cte AS (SELECT 'FROM core_chaine' AS s FROM staging_a),
         suite AS MATERIALIZED (SELECT * FROM core_cte JOIN ref_b AS r USING (k))
    SELECT * FROM suite AS s, out_c AS c, ref_d
    LEFT JOIN (SELECT * FROM read_parquet('x.parquet')) AS p ON TRUE
    WHERE s.k IN (SELECT k FROM core_e) AND NOT EXISTS (SELECT 1 FROM raw_f)
    """
    assert sql_order.tables_read(sql) == {"staging_a", "ref_b", "out_c", "ref_d", "core_e"}


def test_real_core_order_puts_employment_readers_after_it():
    targets = ["core_communes", "core_etablissements", "core_etablissements_annuel", "core_ecart_urssaf",
               "core_cibles_urssaf", "core_cellules_urssaf"]
    before, after = sql_order.stages(targets, existing=CORE_INPUTS,
                                     later={"core_effectifs_entrees", "core_effectifs", "core_calibration"})
    assert set(before) == {"core_communes", "core_situations", "core_etablissements_prep",
                           "core_etablissements_annuel", "core_cellules_urssaf", "core_cibles_urssaf"}
    assert set(after) == {"core_etablissements", "core_ecart_urssaf"}
    order = before + after
    for table in order:  # each table after every table it reads that this plan builds
        assert all(order.index(d) < order.index(table) for d in sql_order.reads(table) if d in order), table
    assert order.index("core_communes") < order.index("core_etablissements_prep")
    assert order.index("core_cellules_urssaf") < order.index("core_cibles_urssaf")


def test_real_output_order_and_every_sql_file_is_acyclic():
    order = sql_order.build_order(["out_indicateurs", "out_cube_communes"], existing={
        "core_communes", "core_effectifs", "core_etablissements", "core_etablissements_annuel", "ref_zonages",
        "staging_communes", "staging_epci", "ref_libelles_territoires", "ref_libelles_secteurs", "ref_classes_taille"})
    assert order.index("out_cube_etablissements") < order.index("out_indicateurs")
    assert order.index("out_cube_territoires") < order.index("out_indicateurs")
    assert order.index("out_cube_etablissements") < order.index("out_cube_communes")
    assert set(order) == {"out_cube_etablissements", "out_cube_territoires", "out_indicateurs", "out_cube_communes"}
    graph = sql_order.all_tables()
    assert "core_etablissements_prep" in graph["core_etablissements"]
    # every file orders: no cycle anywhere in sql/ (the ref_ tables are loaded, never built; transforms/employment.py
    # makes core_effectifs and core_calibration in Python)
    provided = {d for deps in graph.values() for d in deps if d.startswith("ref_")} | {"core_effectifs"}
    order = sql_order.build_order(sorted(graph), existing=provided)
    assert sorted(order) == sorted(graph)


def _toy(tmp_path, files: dict[str, str]):
    folder = tmp_path / "sql"
    for name, sql in files.items():
        layer = name.split("_", 1)[0]
        (folder / layer).mkdir(parents=True, exist_ok=True)
        (folder / layer / f"{name}.sql").write_text(sql, encoding="utf-8")
    return folder


def test_toy_folder_order_existing_tables_are_not_rebuilt(tmp_path):
    folder = _toy(tmp_path, {
        "core_a": "SELECT * FROM staging_x",
        "core_b": "WITH t AS (SELECT * FROM core_a) SELECT * FROM t JOIN ref_y USING (k)",
        "out_c": "SELECT * FROM core_b, core_a",
    })
    assert sql_order.build_order(["out_c"], existing={"staging_x", "ref_y"}, directory=folder) == [
        "core_a", "core_b", "out_c"]
    assert sql_order.build_order(["out_c"], existing={"core_b", "core_a"}, directory=folder) == ["out_c"]
    assert sql_order.stages(["out_c"], existing={"staging_x", "ref_y"}, later={"core_a"}, directory=folder) == (
        [], ["core_b", "out_c"])


def test_toy_cycle_is_named_with_its_files(tmp_path):
    folder = _toy(tmp_path, {"core_a": "SELECT * FROM core_b", "core_b": "SELECT * FROM core_a",
                             "out_c": "SELECT * FROM core_a"})
    with pytest.raises(BuildOrderError, match=r"cycle: core_a \(sql/core/core_a.sql\) → "
                                              r"core_b \(sql/core/core_b.sql\) → core_a; break it"):
        sql_order.build_order(["out_c"], directory=folder)


def test_toy_missing_file_names_the_table_and_its_reader(tmp_path):
    folder = _toy(tmp_path, {"out_c": "SELECT * FROM core_absente"})
    with pytest.raises(BuildOrderError, match=r"table 'core_absente' \(read by sql/out/out_c.sql\) is not among the "
                                              r"tables present and has no SQL file \(expected .*core_absente.sql\)"):
        sql_order.build_order(["out_c"], directory=folder)
    with pytest.raises(BuildOrderError, match=r"table 'out_inconnue' \(asked for\)"):
        sql_order.build_order(["out_inconnue"], directory=folder)
