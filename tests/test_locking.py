"""Two runs never write the same warehouse at once; a dead run never leaves a stale lock."""

import multiprocessing
import os
import time

import pytest

from ess.locking import LockedError, warehouse_lock


def _hold(folder, ready, release):
    with warehouse_lock(folder):
        ready.set()
        release.wait(30)


def test_second_writer_is_refused_while_first_holds_the_lock(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            with warehouse_lock(tmp_path):
                pass
    finally:
        release.set()
        holder.join(20)
    with warehouse_lock(tmp_path):  # free again once the holder is done
        pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(20)
    os.kill(holder.pid, 9)
    holder.join(20)
    with warehouse_lock(tmp_path, wait_seconds=5):
        pass


def test_waiting_writer_gets_the_lock_when_released(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(20)
    ctx.Process(target=lambda: (time.sleep(0.5), release.set())).start()
    with warehouse_lock(tmp_path, wait_seconds=20, poll=0.1):
        pass
    holder.join(20)


def test_a_commands_departement_lock_lets_its_own_flow_through_and_no_one_else(tmp_path):
    """`ess run` takes the département's lock before Prefect starts; the flow it runs (same process) asks for it
    again and goes through; a lock taken without for_command refuses even this process (two runs in one)."""
    from ess.locking import departement_lock

    with departement_lock(tmp_path, "38", for_command=True) as folder:
        assert folder == tmp_path / ".verrous" / "departement=38"
        with departement_lock(tmp_path, "38"):  # the command's own flow
            pass
        with departement_lock(tmp_path, "73"):  # another département: its own lock
            pass
    with departement_lock(tmp_path, "38"):
        with pytest.raises(LockedError, match=f"a run of département 38 into {tmp_path} is already in progress: "
                                              f"another run is writing .*pid {os.getpid()}"):
            with departement_lock(tmp_path, "38"):
                pass
    with departement_lock(tmp_path, "38"):  # released by the failed attempt's owner
        pass


def test_a_locked_error_inside_the_run_keeps_its_own_message(tmp_path):
    """Only the taking of the département lock says "a run of département … is already in progress"."""
    from ess.locking import departement_lock

    with pytest.raises(LockedError) as err:
        with departement_lock(tmp_path, "38"):
            raise LockedError("another run is writing the warehouse (pid 1); wait for it to finish")
    assert str(err.value) == "another run is writing the warehouse (pid 1); wait for it to finish"
