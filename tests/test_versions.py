"""The warehouse's history, `ess versions` and `ess rollback`.

A rollback makes a kept version current again by the switch of a publication (transforms/warehouse.py), records it
in the history every version holds, and withdraws nothing for good: the retention keeps the current version, the
one current before it, and every version until two newer ones have been published (README, « Where outputs go »).
Publications are made with the hand-made tables of test_publication.py; a rollback is killed with SIGKILL at every
stage in a process of its own (tests/rollback_driver.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ess.errors import UserError
from ess.locking import LockedError, warehouse_lock
from flows import cli
from flows import versions as ver
from test_publication import current, in_process, make_tables, published, spec, tree
from transforms import publish as pub
from transforms import warehouse as wh

TESTS = Path(__file__).resolve().parent
DRIVER = TESTS / "rollback_driver.py"


def events(warehouse: Path) -> list[tuple]:
    """The current version's history as (version, type, run, versions withdrawn)."""
    return [(e["version"], e["type"], e.get("run_id"), e.get("versions_retirees"))
            for e in wh.history(wh.current_dir(warehouse))]


def folders(warehouse: Path) -> set[str]:
    return {p.name for p in (warehouse / wh.VERSIONS).iterdir()}


def figure(warehouse: Path) -> int:
    """The one établissement count département 38 has in the catalog readers open."""
    con = pub.open_catalog(warehouse)
    try:
        return con.execute("SELECT nb_etablissements FROM out_indicateurs_public WHERE departement = '38'"
                           ).fetchone()[0]
    finally:
        con.close()


def ess(*argv: str) -> int:
    return cli.main(list(argv))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tables")
    return {name: make_tables(tmp / name, dep, value) for name, dep, value in
            (("r1", "38", 5), ("r2", "38", 9), ("r3", "38", 7), ("r4", "38", 3), ("t73", "73", 4))}


def forced(s: dict) -> dict:
    s["manifest"]["garde_fous"] = {"force_demandee": True, "publication_forcee": True,
                                   "constats": [{"libelle": "variation", "message": "moved"}]}
    return s


# --- publish twice, roll back, publish again --------------------------------------------------------------------


def test_a_rollback_is_recorded_and_the_withdrawn_version_kept_until_two_newer_are_published(tables, tmp_path,
                                                                                              capsys):
    w = tmp_path / "w"
    in_process(spec(w, tables["r1"], "R1"))
    v1 = current(w)
    in_process(forced(spec(w, tables["r2"], "R2")))
    v2 = current(w)
    assert figure(w) == 9

    assert ess("rollback", v1[-6:], "--warehouse", str(w)) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"Retour arrière dans l'entrepôt {w} : la version {v1} est de nouveau la version courante.")
    assert f"  Retirée : {v2} — publication FORCÉE du " in said
    assert f"Elle reste dans {w / wh.VERSIONS / v2} jusqu'à ce que 2 nouvelles versions soient publiées ; " \
           f"`ess rollback {v2[-6:]}` la rétablit." in said
    assert current(w) == v1 and figure(w) == 5  # the very version, not a copy of it
    assert events(w) == [(v1, "publication", "R1", None), (v2, "publication", "R2", None),
                         (v1, "retour_arriere", None, [v2])]
    assert folders(w) == {v1, v2}

    in_process(spec(w, tables["r3"], "R3"))
    v3 = current(w)
    assert wh.read_index(w / wh.VERSIONS / v3)["precedente"] == v1
    # v2 has one newer publication: kept; v1 was current before v3: kept
    assert folders(w) == {v1, v2, v3}
    in_process(spec(w, tables["r4"], "R4"))
    v4 = current(w)
    assert folders(w) == {v3, v4}  # v2 and v1 have two newer publications now
    # the history outlives the versions: the rollback and what it withdrew are still there
    assert events(w) == [(v1, "publication", "R1", None), (v2, "publication", "R2", None),
                         (v1, "retour_arriere", None, [v2]), (v3, "publication", "R3", None),
                         (v4, "publication", "R4", None)]

    assert ess("versions", "--warehouse", str(w)) == 0
    listing = capsys.readouterr().out.splitlines()
    row = next(i for i, line in enumerate(listing) if v2 in line and "publication" in line)
    assert listing[row].split()[-2:] == ["oui", "supprimée"]  # forced, deleted
    assert listing[row + 1].strip().startswith("└ retirée le ") and listing[row + 1].endswith(
        f"(retour à {v1[-6:]})")
    assert next(line for line in listing if v4 in line).split()[0] == "▶"
    returns = [line for line in listing if "retour à la version" in line]
    assert len(returns) == 1 and returns[0].endswith(f" : retour à la version {v1} ; retirée : {v2}")


def test_a_rollback_can_be_undone_and_keeps_what_the_retention_keeps(tables, tmp_path, capsys):
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    wh.rollback(w, v1)
    in_process(spec(w, tables["r3"], "R3"))
    v3 = current(w)
    # back to the withdrawn version: v3 and the return to v1 are withdrawn
    assert ess("rollback", v2, "--warehouse", str(w)) == 0
    assert current(w) == v2 and figure(w) == 9
    assert events(w)[-1] == (v2, "retour_arriere", None, [v3, v1])
    assert folders(w) == {v2, v3}  # v1: two newer publications, and no longer the one current before
    said = capsys.readouterr().out.splitlines()
    assert said[3:] == [
        f"    Elle reste dans {w / wh.VERSIONS / v3} jusqu'à ce que 2 nouvelles versions soient publiées ; "
        f"`ess rollback {v3[-6:]}` la rétablit.",
        said[4],
        "    Elle n'est plus conservée (2 versions plus récentes ont été publiées) : l'historique seul en garde la "
        "trace.",
        "  L'historique de l'entrepôt garde la trace de ce retour arrière (`ess versions`).",
    ]
    assert said[2].startswith(f"  Retirée : {v3} — publication du ") and said[4].startswith(f"  Retirée : {v1} — ")
    assert wh.rollback(w, v2) is None  # current already: nothing written
    assert [e[1] for e in events(w)] == ["publication", "publication", "retour_arriere", "publication",
                                         "retour_arriere"]


def test_a_rollback_to_a_version_without_the_method_leaves_no_dangling_link(tables, tmp_path):
    w = tmp_path / "w"
    in_process(spec(w, tables["r1"], "R1"))
    v1 = current(w)
    (w / wh.VERSIONS / v1 / pub.METHOD).unlink()  # as published before the method travelled with the warehouse
    in_process(spec(w, tables["r2"], "R2"))
    assert (w / pub.METHOD).is_file()

    wh.rollback(w, v1)
    assert current(w) == v1 and figure(w) == 5
    assert not os.path.lexists(w / pub.METHOD)  # no link to a file the version does not have
    assert (w / "dictionnaire_donnees.md").is_file()  # the entry points it has are still there
    in_process(spec(w, tables["r3"], "R3"))
    assert os.readlink(w / pub.METHOD) == f"{wh.CURRENT}/{pub.METHOD}" and (w / pub.METHOD).is_file()


# --- refusals ------------------------------------------------------------------------------------------------------


def test_an_unknown_or_deleted_version_is_refused_with_the_kept_ones(tables, tmp_path, capsys):
    w = tmp_path / "w"
    for name in ("r1", "r2", "r3"):
        in_process(spec(w, tables[name], name.upper()))
    v2, v3 = sorted(folders(w))
    before = tree(w)
    deleted = next(e["version"] for e in wh.history(wh.current_dir(w)) if e["run_id"] == "R1")
    for wanted in ("zzzzzz", deleted, deleted[-6:]):
        assert ess("rollback", wanted, "--warehouse", str(w)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ess rollback: la version « {wanted} » n'est pas dans {w / wh.VERSIONS} : elle n'a "
                              "jamais existé ou a été supprimée")
        assert f"Versions conservées : {v2}, {v3} (courante) ; `ess versions` les décrit" in err
    assert ess("rollback", v3[:4], "--warehouse", str(w)) == 2  # too short to name one version for sure
    assert "« " + v3[:4] + " » n'est pas dans" in capsys.readouterr().err
    assert ess("rollback", v3[-6:], "--warehouse", str(w)) == 0
    assert capsys.readouterr().out == f"La version {v3} est déjà la version courante de {w} : rien n'a changé.\n"
    assert tree(w) == before  # nothing written by any of them

    assert ess("rollback", "abcdef", "--warehouse", str(tmp_path / "vide")) == 2
    assert "l'entrepôt " + str(tmp_path / "vide") + " n'existe pas" in capsys.readouterr().err
    (tmp_path / "vide").mkdir()
    assert ess("rollback", "abcdef", "--warehouse", str(tmp_path / "vide")) == 2
    assert "n'a aucune version : rien à rétablir" in capsys.readouterr().err


def test_a_rollback_waits_for_the_warehouse_lock(tables, tmp_path):
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    with warehouse_lock(w):  # a publication committing
        with pytest.raises(LockedError, match="another run is writing"):
            wh.rollback(w, v1)
    assert current(w) == v2


# --- killed at every stage -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tables, tmp_path_factory):
    """A warehouse with 73 then two publications of 38 (old: 5, new: 9): the rollback goes back to the old one."""
    template = tmp_path_factory.mktemp("rollback") / "template"
    in_process(spec(template, tables["t73"], "R73", "73"))
    in_process(spec(template, tables["r1"], "R38-OLD"))
    old_view, old = published(template), current(template)
    in_process(spec(template, tables["r2"], "R38-NEW"))
    return {"template": template, "old": old, "new": current(template), "old_view": old_view,
            "new_view": published(template), "before": tree(template)}


KILLS = [
    ("before", "transforms.warehouse:recover", 1, "new-still"),  # holding the lock, nothing done yet
    ("after", "transforms.warehouse:recover", 1, "new-still"),
    ("after", "transforms.warehouse:write_json_atomic", 1, "new-still"),  # the pending history written, not flushed
    ("after", "transforms.warehouse:_fsync_file", 1, "new-still"),
    ("after", "os:symlink", 1, "new-still"),  # the new link exists, not yet renamed onto `courant`
    ("after", "transforms.warehouse:switch", 1, "old-again"),  # its history still pending
    ("after", "transforms.warehouse:ensure_entry_points", 2, "old-again"),  # (the 1st call is recover's)
    ("after", "transforms.warehouse:prune", 2, "old-again"),  # everything done
]


@pytest.mark.parametrize("when, target, n, outcome", KILLS,
                         ids=[f"{w}-{t.rpartition(':')[2]}-{n}" for w, t, n, _ in KILLS])
def test_a_rollback_killed_at_every_stage_leaves_one_whole_version(world, tmp_path, when, target, n, outcome):
    w = tmp_path / "w"
    shutil.copytree(world["template"], w, symlinks=True)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"warehouse": str(w), "version": world["old"], "kill": [when, target, n]}),
                    encoding="utf-8")
    done = subprocess.run([sys.executable, str(DRIVER), str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})
    assert done.returncode == -9, done.stderr

    # both versions are whole, byte for byte, but for the history of the one rolled back to
    histories = (wh.HISTORY, wh.PENDING_HISTORY)
    for version in (world["old"], world["new"]):
        prefix = f"{wh.VERSIONS}/{version}/"
        assert {k: v for k, v in tree(w).items() if k.startswith(prefix) and not k.endswith(histories)} == {
            k: v for k, v in world["before"].items() if k.startswith(prefix) and not k.endswith(histories)}
    if outcome == "new-still":
        assert current(w) == world["new"] and published(w) == world["new_view"]
        assert [e[1] for e in events(w)] == ["publication"] * 3
        # and the version rolled back to does not claim it was made current: its history is the one it had
        own = f"{wh.VERSIONS}/{world['old']}/{wh.HISTORY}"
        assert tree(w)[own] == world["before"][own]
        assert wh.history(w / wh.VERSIONS / world["old"]) == json.loads(world["before"][own])["evenements"]
    else:
        assert current(w) == world["old"] and published(w) == world["old_view"]
        assert events(w)[-1] == (world["old"], "retour_arriere", None, [world["new"]])

    # the next rollback or publication finds a whole warehouse and cleans up
    wh.rollback(w, world["old"])
    assert current(w) == world["old"] and published(w) == world["old_view"]
    assert [e[1] for e in events(w)] == ["publication"] * 3 + ["retour_arriere"]  # once, whatever was killed
    assert sorted((w / wh.VERSIONS).glob(f"*/*{wh.PENDING_HISTORY}*")) == []
    in_process(spec(w, make_tables(tmp_path / "t", "38", 11), "R38-NEXT"))
    assert figure(w) == 11 and folders(w) == {world["old"], world["new"], current(w)}
    assert sorted(p.name for p in w.iterdir() if p.name.startswith(".")) == [".construction", ".ess.lock"]


# --- the history of versions made before it existed ---------------------------------------------------------------


def test_versions_without_a_history_get_one_from_their_chain(tables, tmp_path):
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    for version in (v1, v2):
        (w / wh.VERSIONS / version / wh.HISTORY).unlink()  # the layout before this commit
    assert events(w) == [(v1, "publication", "R1", None), (v2, "publication", "R2", None)]
    in_process(spec(w, tables["r3"], "R3"))
    v3 = current(w)
    assert json.loads((w / wh.VERSIONS / v3 / wh.HISTORY).read_text(encoding="utf-8"))["evenements"][0][
        "version"] == v1
    assert folders(w) == {v2, v3}


# --- what `ess versions` prints ------------------------------------------------------------------------------------


def hand_made(w: Path) -> None:
    """Three versions of a warehouse, by hand: a deleted one (in the history only), a publication, a forced one
    withdrawn by a rollback to the second; then a report of the second (current)."""
    ids = ["20260901T080000000000Z-a11111", "20261001T080000000000Z-b22222", "20261101T080000000000Z-c33333",
           "20261103T100000000000Z-d44444"]
    made = [
        {"type": "publication", "run_id": "20260901T075500-000001Z", "departement": "38", "millesime": "2026-08",
         "perimetre": "insee", "forcee": False, "donnees_synthetiques": False},
        {"type": "publication", "run_id": "20261001T075500-000002Z", "departement": "38", "millesime": "2026-09",
         "perimetre": "insee", "forcee": False, "donnees_synthetiques": False},
        {"type": "publication", "run_id": "20261101T075500-000003Z", "departement": "38", "millesime": "2026-10",
         "perimetre": "insee", "forcee": True, "donnees_synthetiques": True},
        {"type": "rapport", "run_id": "20261001T075500-000002Z", "departement": "38", "millesime": "2026-09",
         "perimetre": "insee"},
    ]
    dates = ["2026-09-01T08:00:00+00:00", "2026-10-01T08:00:00+00:00", "2026-11-01T08:00:00+00:00",
             "2026-11-03T10:00:00+00:00"]
    history = []
    for n, (version, change, date) in enumerate(zip(ids, made, dates)):
        if n == 3:
            history.append({"version": ids[1], "type": "retour_arriere", "courante_depuis": "2026-11-02T09:30:00+00:00",
                            "precedente": ids[2], "versions_retirees": [ids[2]]})
        index = {"version": version, "precedente": history[-1]["version"] if history else None, "creee_le": date,
                 "changement": change}
        history.append(wh.event_of(index))
        if n:
            wh.write_json_atomic(w / wh.VERSIONS / version / wh.INDEX, index)
            wh.write_json_atomic(w / wh.VERSIONS / version / wh.HISTORY, {"evenements": history})
    os.symlink(f"{wh.VERSIONS}/{ids[3]}", w / wh.CURRENT)


def test_ess_versions_lists_every_version_with_what_happened_to_it(tmp_path, capsys):
    w = tmp_path / "entrepot"
    hand_made(w)
    assert ess("versions", "--warehouse", str(w)) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Versions de l'entrepôt {w} — 3 conservées sur 4 connues, la plus récente en premier (▶ la version "
        "courante) :",
        "",
        "     version                        créée le (UTC)       type         run                      dép.  "
        "millésime  périmètre  forcée  état",
        "  ▶  20261103T100000000000Z-d44444  03/11/2026 10:00:00  rapport      20261001T075500-000002Z  38    "
        "2026-09    insee      —       courante",
        "     20261101T080000000000Z-c33333  01/11/2026 08:00:00  publication  20261101T075500-000003Z  38    "
        "2026-10    insee      oui     conservée",
        "     └ retirée le 02/11/2026 09:30:00 (retour à b22222)",
        "     └ données synthétiques (échantillon généré)",
        "     └ conservée jusqu'à ce que 1 nouvelle version soit publiée",
        "     20261001T080000000000Z-b22222  01/10/2026 08:00:00  publication  20261001T075500-000002Z  38    "
        "2026-09    insee      non     conservée",
        "     └ redevenue courante le 02/11/2026 09:30:00 (retour arrière)",
        "     └ conservée jusqu'au prochain changement de version courante",
        "     20260901T080000000000Z-a11111  01/09/2026 08:00:00  publication  20260901T075500-000001Z  38    "
        "2026-08    insee      non     supprimée",
        "",
        "Retours arrière :",
        "  02/11/2026 09:30:00 : retour à la version 20261001T080000000000Z-b22222 ; retirée : "
        "20261101T080000000000Z-c33333",
        "",
        "Sont conservées la version courante, celle qui l'était juste avant elle, et toute version tant que 2 "
        "versions plus récentes n'ont pas été publiées. Pour revenir à une version conservée : ess rollback "
        "<version> (ses 6 derniers caractères suffisent).",
    ]


def test_ess_versions_on_an_empty_or_missing_warehouse(tmp_path, capsys):
    assert ess("versions", "--warehouse", str(tmp_path)) == 0
    assert capsys.readouterr().out == f"L'entrepôt {tmp_path} n'a encore aucune version : `ess run` y publie la " \
                                      "première.\n"
    assert ess("versions", "--warehouse", str(tmp_path / "absent")) == 2
    assert capsys.readouterr().err.startswith(f"ess versions: l'entrepôt {tmp_path / 'absent'} n'existe pas")


def test_find_version_names_the_ambiguous_matches(tmp_path):
    w = tmp_path / "w"
    for version in ("20261001T080000000000Z-b22222", "20261001T080000000000Z-c22222"):
        wh.write_json_atomic(w / wh.VERSIONS / version / wh.INDEX, {"version": version})
    assert wh.find_version(w, "c22222") == "20261001T080000000000Z-c22222"
    with pytest.raises(UserError, match="« 20261001T08 » désigne plusieurs versions .*-b22222, .*-c22222"):
        wh.find_version(w, "20261001T08")


def test_a_version_that_never_became_current_is_shown_as_to_be_deleted(tables, tmp_path):
    w = tmp_path / "w"
    in_process(spec(w, tables["r1"], "R1"))
    v1 = current(w)
    orphan = "29991231T000000000000Z-ffffff"  # a writer killed between its index and its switch
    wh.write_json_atomic(w / wh.VERSIONS / orphan / wh.INDEX, {"version": orphan, "changement": {
        "type": "publication", "run_id": "RX"}})
    assert {v.id: v.state for v in ver.versions(w)} == {orphan: "à supprimer", v1: "courante"}
    in_process(spec(w, tables["r2"], "R2"))
    assert orphan not in folders(w)


# --- a warehouse whose current link was removed -------------------------------------------------------------------


def test_without_a_current_link_a_rollback_keeps_the_newer_versions_and_a_publication_is_refused(tables, tmp_path):
    w = tmp_path / "w"
    for name in ("r1", "r2", "r3"):
        in_process(spec(w, tables[name], name.upper()))
    v2, v3 = sorted(folders(w))
    (w / wh.CURRENT).unlink()  # removed by hand, or a partial restore

    # publishing from nothing would drop the other départements' files and the retention the versions holding them
    with pytest.raises(UserError, match=r"no version is current .* 2 are kept: make one current again with "
                                        r"`ess rollback <version>`.*nothing was published"):
        in_process(spec(w, tables["r4"], "R4"))
    assert folders(w) == {v2, v3}

    # going back to the older one: its history is the newest's, so the newer version is named and kept
    wh.rollback(w, v2)
    assert current(w) == v2 and folders(w) == {v2, v3}
    assert [e[:2] for e in events(w)][-3:] == [(v2, "publication"), (v3, "publication"), (v2, "retour_arriere")]
    assert events(w)[-1][3] == [v3]
    in_process(spec(w, tables["r4"], "R4"))
    assert folders(w) == {v2, v3, current(w)}  # v3 has one newer publication: kept


def test_without_a_current_link_a_rollback_goes_by_the_history_of_the_version_current_last(tables, tmp_path):
    """After a rollback the newest version is not the one current last: its history misses the rollback, and a
    rollback going by it would not say which version it withdraws."""
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    wh.rollback(w, v1)
    (w / wh.CURRENT).unlink()  # removed by hand, or a partial restore
    wh.rollback(w, v2)
    assert current(w) == v2
    assert [e[:2] for e in events(w)] == [(v1, "publication"), (v2, "publication"), (v1, "retour_arriere"),
                                          (v2, "retour_arriere")]
    assert events(w)[-1][3] == [v1]  # what the last rollback withdraws


@pytest.mark.parametrize("spelling", ["./versions/{v}", "versions/{v}/", "{w}/versions/{v}"])
def test_a_current_link_made_again_by_hand_still_names_its_version(tables, tmp_path, spelling):
    w = tmp_path / "w"
    in_process(spec(w, tables["r1"], "R1"))
    v = current(w)
    (w / wh.CURRENT).unlink()
    (w / wh.CURRENT).symlink_to(spelling.format(v=v, w=w))
    assert wh.is_current(w / wh.VERSIONS / v)


# --- `ess versions` while a publication deletes old versions -----------------------------------------------------


def deleted_when_read(monkeypatch, victim: Path) -> None:
    """`victim` is deleted (as a publication's retention does, without the lock `ess versions` does not take) between
    the moment it is listed and the moment its index is read."""
    real = wh.read_index

    def read_index(version):
        if version is not None and Path(version).name == victim.name and victim.exists():
            shutil.rmtree(victim)
        return real(version)

    monkeypatch.setattr(wh, "read_index", read_index)


def test_ess_versions_reports_a_version_deleted_while_it_is_listed(tables, tmp_path, capsys, monkeypatch):
    w = tmp_path / "w"
    in_process(spec(w, tables["r1"], "R1"))
    v1 = current(w)
    orphan = "29991231T000000000000Z-ffffff"  # not in the history: a killed writer's, deleted by the next one
    wh.write_json_atomic(w / wh.VERSIONS / orphan / wh.INDEX, {"version": orphan, "changement": {
        "type": "publication", "run_id": "RX"}})
    deleted_when_read(monkeypatch, w / wh.VERSIONS / orphan)
    assert ess("versions", "--warehouse", str(w)) == 0
    listing = capsys.readouterr().out.splitlines()
    row = next(line for line in listing if orphan in line)
    assert row.split() == [orphan, "—", "—", "—", "—", "—", "—", "—", "supprimée", "pendant", "la", "lecture"]
    assert next(line for line in listing if v1 in line).split()[0] == "▶"


def test_ess_versions_of_versions_without_history_skips_one_deleted_while_read(tables, tmp_path, capsys,
                                                                               monkeypatch):
    """A history rebuilt from the chain of `precedente` (versions made before histories) stops at a version deleted
    while it is read: the older ones are then unknown, as those deleted before."""
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    for version in (v1, v2):
        (w / wh.VERSIONS / version / wh.HISTORY).unlink()  # the layout before histories
    deleted_when_read(monkeypatch, w / wh.VERSIONS / v1)
    assert ess("versions", "--warehouse", str(w)) == 0
    assert [(v.id, v.state) for v in ver.versions(w)] == [(v2, "courante")]
    assert v1 not in capsys.readouterr().out


def test_a_rollback_killed_before_its_switch_is_not_in_the_history_a_warehouse_without_link_goes_by(tables,
                                                                                                    tmp_path):
    """Without `courant`, a rollback takes the history of the version current last: a rollback to another version
    killed before its switch must not have written there that it was made current."""
    w = tmp_path / "w"
    for name in ("r1", "r2"):
        in_process(spec(w, tables[name], name.upper()))
    v1, v2 = sorted(folders(w))
    wh.rollback(w, v1)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"warehouse": str(w), "version": v2,
                                "kill": ["after", "transforms.warehouse:_fsync_file", 1]}), encoding="utf-8")
    done = subprocess.run([sys.executable, str(DRIVER), str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})
    assert done.returncode == -9, done.stderr
    assert current(w) == v1
    (w / wh.CURRENT).unlink()  # removed by hand, or a partial restore

    wh.rollback(w, v1)
    assert current(w) == v1 and folders(w) == {v1, v2}
    assert (v2, "retour_arriere") not in [e[:2] for e in events(w)]
    assert events(w)[-1] == (v1, "retour_arriere", None, [])  # v1 was current last: nothing withdrawn
