"""The shared SQL runner: staging rejects are routed, never dropped; parameters are bound by name."""

import pytest

from ess import db
from ess.accounting import FileStats, ReconciliationError


@pytest.fixture
def sql_dir(tmp_path, monkeypatch):
    (tmp_path / "staging").mkdir()
    monkeypatch.setattr(db, "SQL_DIR", tmp_path)
    return tmp_path


def test_staging_rows_with_a_reason_go_to_rejects(sql_dir):
    (sql_dir / "staging" / "staging_demo.sql").write_text(
        """WITH src AS (SELECT * FROM (VALUES ('001', 1), ('x2', 2), ('003', -1)) t(code, n))
        SELECT code, n,
               CASE WHEN NOT regexp_full_match(code, '\\d{3}') THEN 'code mal formé'
                    WHEN n < $minimum THEN 'valeur négative' END AS _motif_rejet
        FROM src"""
    )
    con = db.connect()
    result = db.build_staging_table(con, "staging_demo", key="code", fichier="demo.csv", minimum=0)
    assert result == {"staged": 1, "rejected": {"code mal formé": 1, "valeur négative": 1}}
    assert con.execute("SELECT code FROM staging_demo").fetchall() == [("001",)]
    rejects = con.execute("SELECT cle, motif_rejet, fichier FROM staging_rejets ORDER BY cle").fetchall()
    assert rejects == [("003", "valeur négative", "demo.csv"), ("x2", "code mal formé", "demo.csv")]
    # a re-run replaces the table's rejects instead of appending them twice
    db.build_staging_table(con, "staging_demo", key="code", fichier="demo.csv", minimum=0)
    assert con.execute("SELECT count(*) FROM staging_rejets").fetchone()[0] == 2


def test_missing_parameter_and_missing_reject_column_are_clear(sql_dir):
    (sql_dir / "staging" / "staging_plain.sql").write_text("SELECT $a AS a")
    con = db.connect()
    with pytest.raises(KeyError, match=r"\['a'\]"):
        db.build_table(con, "staging_plain")
    with pytest.raises(ValueError, match="_motif_rejet"):
        db.build_staging_table(con, "staging_plain", key="a", fichier="f", a=1)
    with pytest.raises(FileNotFoundError, match="staging_nothing.sql"):
        db.build_table(con, "staging_nothing")


def test_identifiers_are_checked():
    with pytest.raises(ValueError):
        db.identifier("x; DROP TABLE y")


def test_export_and_attach_round_trip_with_metadata(tmp_path):
    import pyarrow.parquet as pq

    con = db.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('2A004', 3), ('01001', 1)) v(code, n)")
    written = db.export_tables(con, ["t"], tmp_path, metadata={"ess:synthetic": "true"})
    assert pq.read_metadata(written["t"]).metadata[b"ess:synthetic"] == b"true"
    assert not list(tmp_path.glob(".*tmp"))
    con2 = db.connect()
    db.attach_tables(con2, {"t": written["t"]})
    assert con2.execute("SELECT code FROM t").fetchall() == [("01001",), ("2A004",)]  # ordered, zeros kept
    first = open(written["t"], "rb").read()
    db.export_tables(con, ["t"], tmp_path, metadata={"ess:synthetic": "true"})
    assert open(written["t"], "rb").read() == first  # same inputs, same bytes


def test_accounting_identity():
    stats = FileStats("s", "t", "f.csv", "2026-10", rows_read=10, rows_out_of_scope=3, rows_staged=5,
                      rows_rejected={"a": 2})
    stats.check()
    stats.rows_staged = 4
    with pytest.raises(ReconciliationError, match="10 rows read but 4 staged"):
        stats.check()


def test_staging_duplicates_are_rejected_after_the_query(sql_dir):
    # Among the VALID rows holding the same key (NULLs equal), the first by the order is kept, the others rejected
    # with the reason, column and value; an invalid row neither counts as a duplicate nor is ranked.
    (sql_dir / "staging" / "staging_dup.sql").write_text(
        """SELECT * FROM (VALUES ('a', NULL, 3, NULL, NULL, NULL), ('a', NULL, 1, NULL, NULL, NULL),
                                 ('a', '2020', 2, NULL, NULL, NULL), ('b', NULL, 5, 'mauvais', 'k', 'b'),
                                 ('b', NULL, 4, NULL, NULL, NULL), ('a', NULL, 9, NULL, NULL, NULL))
           t(k, d, _ligne, _motif_rejet, _colonne_rejet, _valeur_rejet)""")
    con = db.connect()
    result = db.build_staging_table(con, "staging_dup", key="k", fichier="f", duplicates=db.Duplicates(
        ("k", "d"), "_ligne", "clé en double", "k", "k || '/' || coalesce(d, '-')"))
    assert result == {"staged": 3, "rejected": {"clé en double": 2, "mauvais": 1}}
    assert con.execute("SELECT k, d FROM staging_dup ORDER BY ALL").fetchall() == [("a", "2020"), ("a", None),
                                                                                  ("b", None)]
    assert con.execute("SELECT numero_ligne, colonne, valeur FROM staging_rejets WHERE motif_rejet = 'clé en double' "
                       "ORDER BY 1").fetchall() == [(3, "k", "a/-"), (9, "k", "a/-")]


def test_rejects_spread_over_many_vectors_are_left_behind_by_a_copy_not_deleted(sql_dir, monkeypatch):
    """Deleting rows in place makes DuckDB hold 16 KiB it cannot spill for each vector (2 048 rows) holding one, as
    long as the table lives (every département at 100 % of France: out of the staging's memory). Rejects over more
    than DELETED_VECTORS_MAX vectors: the kept rows are copied instead — the same staged rows, in the same order,
    and the same rejects, without that memory."""
    (sql_dir / "staging" / "staging_wide.sql").write_text(
        """SELECT i AS k, 'x' || i AS v, i AS _ligne, CASE WHEN i % 1000 = 7 THEN 'mauvais' END AS _motif_rejet
           FROM range(200000) r(i)""")  # 200 rejects, one in each of 98 vectors

    def stage(most: int):
        monkeypatch.setattr(db, "DELETED_VECTORS_MAX", most)
        con = db.connect()
        result = db.build_staging_table(con, "staging_wide", key="k", fichier="f")
        held = con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                           "WHERE tag = 'BASE_TABLE'").fetchone()[0]
        rows = con.execute("SELECT * FROM staging_wide").fetchall()  # (in the table's own order)
        rejects = con.execute("SELECT cle, numero_ligne FROM staging_rejets ORDER BY ALL").fetchall()
        return result, held, rows, rejects

    in_place, copied = stage(1000), stage(97)
    assert in_place[0] == copied[0] == {"staged": 199800, "rejected": {"mauvais": 200}}
    assert in_place[2:] == copied[2:]
    assert copied[2][:2] == [(0, "x0"), (1, "x1")] and len(copied[3]) == 200
    assert in_place[1] >= 98 * 16 * 1024 > 1024 * 1024 > copied[1]  # DuckDB's version information, or none


def test_duplicates_are_ranked_on_their_keys_whatever_their_hashes(sql_dir, monkeypatch):
    """Distinct hashes prove there is no duplicate; equal ones prove nothing: keys sharing a hash are ranked on the
    keys themselves (here every key hashes alike: the same rows are rejected)."""
    (sql_dir / "staging" / "staging_dup.sql").write_text(
        """SELECT * FROM (VALUES ('a', NULL, 3, NULL, NULL, NULL), ('a', NULL, 1, NULL, NULL, NULL),
                                 ('a', '2020', 2, NULL, NULL, NULL), ('c', NULL, 4, 'mauvais', 'k', 'c'))
           t(k, d, _ligne, _motif_rejet, _colonne_rejet, _valeur_rejet)""")
    duplicates = db.Duplicates(("k", "d"), "_ligne", "clé en double", "k", "k")
    con = db.connect()
    con.execute("CREATE MACRO meme_hash(a, b) AS 1::UBIGINT")
    monkeypatch.setattr(db, "KEY_HASH_FUNCTION", "meme_hash")
    result = db.build_staging_table(con, "staging_dup", key="k", fichier="f", duplicates=duplicates)
    assert result == {"staged": 2, "rejected": {"clé en double": 1, "mauvais": 1}}
    assert con.execute("SELECT numero_ligne FROM staging_rejets WHERE motif_rejet = 'clé en double'").fetchall() == [
        (3,)]


def test_partitions_are_written_a_group_of_values_at_a_time_with_the_same_bytes(tmp_path, monkeypatch):
    """export_partitions sorts at most SORTED_ROWS_PER_GROUP rows at a time (a value with more alone): the groups
    are cut by hand below, and the files are those of one sort of the whole table, byte for byte — a group of one
    value, written straight from the table without the group's copy, included."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    con = db.connect()
    con.execute("CREATE TABLE t (_departement VARCHAR, x INTEGER, y VARCHAR)")
    rows = [("d", 9, "z"), ("a", 2, "q"), ("d", 1, "a"), ("b", 5, None), ("a", 1, "r"), ("d", 7, "b"), ("a", 1, "p"),
            ("d", 3, "c")]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    values = ["a", "b", "c", "d"]  # c has no row; a 3, b 1, d 4
    assert db._groups(values, {"a": 3, "b": 1, "d": 4}, 4) == [["a", "b", "c"], ["d"]]
    assert db._groups(values, {"a": 3, "b": 1, "d": 4}, 2) == [["a"], ["b", "c"], ["d"]]
    assert db._groups(values, {"a": 3, "b": 1, "d": 4}, 8) == [values]

    sorted_groups: dict[str, list] = {}

    class Spy:  # the connection, noting the groups copied sorted
        def __init__(self, folder: str):
            self.folder = sorted_groups[folder] = []

        def execute(self, sql, params=None):
            if sql.startswith("CREATE OR REPLACE TEMP TABLE"):
                self.folder.append(params["groupe"])
            elif sql.startswith("COPY") and "_groupe_" not in sql:
                self.folder.append(f"{params['valeur']} alone")
            return con.execute(sql, params)

    def write(folder: str, most: int) -> dict[str, str]:
        monkeypatch.setattr(db, "SORTED_ROWS_PER_GROUP", most)
        return db.export_partitions(Spy(folder), "t", "_departement", values,
                                    lambda v: tmp_path / folder / f"{v}.parquet", {"ess:synthetic": "true"})

    whole, grouped, alone = write("whole", 100), write("grouped", 4), write("alone", 1)
    assert sorted_groups == {"whole": [values], "grouped": [["a", "b", "c"], "d alone"],
                             "alone": ["a alone", ["b", "c"], "d alone"]}  # (c has no row)
    assert sorted(grouped) == values
    for v in values:
        assert open(grouped[v], "rb").read() == open(whole[v], "rb").read() == open(alone[v], "rb").read()
    empty = pq.read_table(grouped["c"])
    assert (empty.num_rows, empty.column_names, empty.schema.types) == (0, ["x", "y"], [pa.int32(), pa.string()])
    # every column optional, whether or not the group's rows hold a NULL (no NULL in x, nor in y of a and d)
    assert {f.nullable for files in (whole, grouped, alone) for v in values
            for f in pq.read_schema(files[v])} == {True}
    assert pq.read_table(grouped["a"]).to_pylist() == [{"x": 1, "y": "p"}, {"x": 1, "y": "r"}, {"x": 2, "y": "q"}]
    assert [r["x"] for r in pq.read_table(grouped["d"]).to_pylist()] == [1, 3, 7, 9]
    assert pq.read_metadata(grouped["d"]).metadata[b"ess:synthetic"] == b"true"
    by_y = db.export_partitions(con, "t", "_departement", ["d"], lambda v: tmp_path / "by_y" / f"{v}.parquet",
                                order="y")  # a key of d's rows: the same order, whatever the other columns
    assert [r["x"] for r in pq.read_table(by_y["d"]).to_pylist()] == [1, 7, 3, 9]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_groupe_%'").fetchone()[0] == 0
