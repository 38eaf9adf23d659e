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
