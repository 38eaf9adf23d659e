"""Years protected and re-audited in worker processes (transforms/yearly.py) give exactly what one process gives,
and a worker's failure reaches the caller as the same error."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

import cube_fixtures as F
from processes import alive
from test_cube import _bigger_frames
from ess import db, progress
from transforms import outputs, yearly

Y = F.ANNEE_EFFECTIFS


def _two_years():
    """The bigger fixture with a second year of employment: the establishments open in Y - 1, their headcount
    halved (so the two years' patterns differ)."""
    frames = _bigger_frames()
    eff = frames["core_effectifs"]
    open_before = set(frames["core_etablissements_annuel"].query("annee == @Y - 1")["siret"])
    before = eff[eff["siret"].isin(open_before)].assign(annee=Y - 1)
    before["effectif_central"] = before["effectif_central"] / 2
    frames["core_effectifs"] = pd.concat([eff, before], ignore_index=True)
    return frames


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    tables = F.write_tables(tmp_path_factory.mktemp("yearly") / "in", _two_years())
    con = db.connect()
    db.attach_tables(con, tables)
    outputs.build_cube(con, F.PARAMS)
    yield con
    con.close()


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if not k.startswith("secondes") and k != "processus"}
    return value


def _console(monkeypatch) -> io.StringIO:
    """What `ess run` would print (ess/progress.py), from here on."""
    console = io.StringIO()
    monkeypatch.setattr(progress, "_current", progress.Progress(console, heartbeat=0))
    return console


def _years_said(console: io.StringIO, text: str) -> list[tuple[int, str]]:
    """(year, 'k/n') of each console line matching `text`, a pattern whose one group is the year."""
    return [(int(y), n) for y, n in re.findall(text + r"(?:, année publiée en détail)? \((\d+/\d+) années\)",
                                               console.getvalue())]


def test_years_in_processes_match_one_process(cube, monkeypatch):
    params = {**F.PARAMS, "annee_effectifs": Y}
    assert outputs.protected_years(cube, params) == [Y - 1, Y]
    console = _console(monkeypatch)
    alone, alone_stats = outputs.protect_cube(cube, {**params, "secret_processus": 1})
    units_alone = cube.execute("SELECT * FROM out_secret_unites ORDER BY ALL").df()
    # the console says each year as it is done: in this process, the largest year first
    assert _years_said(console, r"· emploi de (\d+) protégé") == [(Y, "1/2"), (Y - 1, "2/2")]
    # announced first, the employment year (published in detail) says why it is the long one
    assert (f"· secret statistique de l'emploi de 2 années sur 1 processus ; {Y}, publiée en détail, prend le plus "
            f"de temps\n") in console.getvalue()
    assert f"· emploi de {Y} protégé, année publiée en détail (1/2 années)" in console.getvalue()
    assert f"· emploi de {Y - 1} protégé (2/2 années)" in console.getvalue()
    console = _console(monkeypatch)
    spread, spread_stats = outputs.protect_cube(cube, {**params, "secret_processus": 2})
    # in workers, as each finishes, counted whatever the order
    said = _years_said(console, r"· emploi de (\d+) protégé")
    assert sorted(y for y, _ in said) == [Y - 1, Y] and sorted(n for _, n in said) == ["1/2", "2/2"]
    units_spread = cube.execute("SELECT * FROM out_secret_unites ORDER BY ALL").df()
    assert (alone_stats["processus"], spread_stats["processus"]) == (1, 2)
    pd.testing.assert_frame_equal(alone, spread)
    pd.testing.assert_frame_equal(units_alone, units_spread)
    assert _strip_timings(alone_stats) == _strip_timings(spread_stats)
    # both years were protected: some employment masked in each
    masked = alone[alone["statut_secret_effectifs"].isin(["frequence", "dominance", "secondaire"])]
    assert set(masked["annee"]) == {Y - 1, Y}

    cube.register("_public", alone)
    cube.execute("CREATE OR REPLACE TABLE out_indicateurs_public AS SELECT * FROM _public")
    console = _console(monkeypatch)
    one = outputs.audit_public(cube, params={"secret_processus": 1})
    assert _years_said(console, r"· secret de (\d+) réaudité") == [(Y, "1/2"), (Y - 1, "2/2")]
    two = outputs.audit_public(cube, params={"secret_processus": 2})
    assert list(one) == [f"{Y - 1}/effectif_central", f"{Y}/effectif_central"]
    assert _strip_timings(one) == _strip_timings(two) and all(a["ok"] for a in two.values())


def test_a_worker_out_of_time_fails_the_step(cube):
    params = {**F.PARAMS, "annee_effectifs": Y, "secret_processus": 2, "secret_budget_secondes": 0.0}
    with pytest.raises(outputs.SecretAuditError, match="raise the run parameter secret_budget_secondes"):
        outputs.protect_cube(cube, params)


def test_worker_count():
    assert yearly.worker_count(None, 14, 10) == 1  # a small cube stays in the process
    assert yearly.worker_count(None, 14, yearly.MIN_ROWS_FOR_PROCESSES) == yearly.available_cores()
    assert yearly.worker_count(8, 3, 10) == 3  # never more workers than years
    with pytest.raises(ValueError, match="secret_processus must be ≥ 1"):
        yearly.worker_count(0, 3, 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_workers_do_not_outlive_a_killed_ess_process():
    """A scheduler stops `ess run` with SIGTERM (or SIGKILL): its workers used to go on protecting their year for
    minutes, orphaned. They now die with it."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "import time; from transforms import yearly\n"
        "if __name__ == '__main__': yearly.run_jobs(time.sleep, [(120,), (120,)], 2)")])
    try:
        workers = _wait_for(lambda: _spawned_children(parent.pid) if len(_spawned_children(parent.pid)) == 2
                            else None)
        assert workers, "the two workers did not start"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not any(alive(pid) for pid in workers) or None), \
            "a worker outlived the process that started it"
    finally:
        parent.kill()


def _wait_for(condition, seconds: float = 60.0):
    """condition()'s first truthy value within `seconds` (None if none): waiting for processes, not timing them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return None


def _spawned_children(ppid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().split(")")[-1].split()[1])
                with open(f"/proc/{entry}/cmdline") as cmd:
                    spawned = "spawn_main" in cmd.read()
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if parent == ppid and spawned:
                found.append(int(entry))
    return found
