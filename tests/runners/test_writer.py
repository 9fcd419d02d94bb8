"""The background writer: order, a bounded queue, errors raised where the work was asked for, Ctrl-C."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from contacts.io.files import atomic_write
from contacts.runners.writer import BackgroundWriter


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_tasks_run_in_order_in_another_thread_and_close_waits_for_them():
    seen, threads = [], set()

    def task(k):
        time.sleep(0.002)
        seen.append(k)
        threads.add(threading.current_thread().name)

    with BackgroundWriter(name="test-writer") as writer:
        for k in range(50):
            writer.submit(lambda k=k: task(k), size=1)
    assert seen == list(range(50)) and threads == {"test-writer"}
    assert writer.held_bytes == 0 and not writer.alive


def test_submit_blocks_while_the_queue_holds_max_bytes():
    release = threading.Event()
    started = []
    writer = BackgroundWriter(max_bytes=300)

    def slow(k):
        started.append(k)
        release.wait(10)

    for k in range(3):  # 300 bytes: the first runs (and blocks), two wait
        writer.submit(lambda k=k: slow(k), size=100)
    wait_until(lambda: started == [0])
    blocked = threading.Thread(target=lambda: writer.submit(lambda: slow(3), size=100))
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive() and writer.held_bytes == 300  # a fourth would hold 400
    release.set()
    blocked.join(10)
    assert not blocked.is_alive()
    writer.close()
    assert started == [0, 1, 2, 3] and writer.held_bytes == 0


def test_a_task_larger_than_the_budget_goes_through_alone():
    done = []
    with BackgroundWriter(max_bytes=10) as writer:
        writer.submit(lambda: done.append("big"), size=1000)
        writer.submit(lambda: done.append("small"), size=1)
    assert done == ["big", "small"]


def test_an_error_in_the_writer_is_raised_in_the_submitting_thread_and_stops_it():
    ran = []

    def fail():
        raise OSError(28, "No space left on device")

    writer = BackgroundWriter()
    writer.submit(lambda: ran.append(1))
    writer.submit(fail)
    writer.submit(lambda: ran.append(3))  # may be queued before the failure lands: then dropped
    with pytest.raises(OSError, match="No space left"):
        for _ in range(1000):  # the next submit raises it, once it has happened
            writer.submit(lambda: ran.append("late"))
            time.sleep(0.01)
    assert ran[0] == 1 and "late" not in ran and ran in ([1], [1, 3])
    with pytest.raises(RuntimeError, match="stopped"):
        writer.submit(lambda: None)
    writer.close()  # the error was raised already: closing raises nothing more


def test_close_raises_what_the_last_task_raised():
    writer = BackgroundWriter()
    writer.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.close()


def test_ctrl_c_drops_the_queue_and_leaves_only_whole_files(tmp_path):
    """Ctrl-C in the main thread while the writer works: the file being written is finished (atomically),
    the queued ones are dropped, no temporary file is left, and KeyboardInterrupt goes on."""
    started, gate = threading.Event(), threading.Event()

    def write(k):
        with atomic_write(tmp_path / f"{k}.npy", "wb") as fh:
            if k == 0:
                started.set()
                gate.wait(10)  # the interrupt arrives while this file is half written
            np.save(fh, np.full((50, 50), k, np.float32))

    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter() as writer:
            for k in range(5):
                writer.submit(lambda k=k: write(k), size=10_000)
            started.wait(10)
            threading.Timer(0.1, gate.set).start()
            raise KeyboardInterrupt
    assert not writer.alive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.npy"]
    assert (np.load(tmp_path / "0.npy") == 0).all()


def test_ctrl_c_while_the_writer_drains_at_the_end_is_ctrl_c_inside_the_block():
    """A real SIGINT while the ``with`` block waits for the last tasks: the running task finishes, the queued
    ones are dropped, and KeyboardInterrupt goes on (as when it lands earlier)."""
    done = []

    def task(k):
        if k == 1:
            os.kill(os.getpid(), signal.SIGINT)  # lands in the main thread, waiting in close()
            time.sleep(0.3)
        done.append(k)

    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter() as writer:
            for k in range(5):
                writer.submit(lambda k=k: task(k), size=1)
    assert done == [0, 1] and not writer.alive and writer.held_bytes == 0


def test_an_error_in_the_main_thread_lets_the_queued_tasks_finish():
    """The model failed on a later batch: the maps it finished before are still written, then the error goes on."""
    done = []
    with pytest.raises(MemoryError):
        with BackgroundWriter() as writer:
            for k in range(5):
                writer.submit(lambda k=k: (time.sleep(0.01), done.append(k)))
            raise MemoryError("batch 2")
    assert done == [0, 1, 2, 3, 4]


def test_several_threads_run_tasks_at_once_and_the_first_error_wins():
    both_running = threading.Barrier(2, timeout=10)
    names = set()

    def meet():
        names.add(threading.current_thread().name)
        both_running.wait()  # only returns when two tasks run at the same time

    with BackgroundWriter(threads=2, name="w") as writer:
        writer.submit(meet)
        writer.submit(meet)
    assert names == {"w", "w-2"} and not writer.alive

    writer = BackgroundWriter(threads=2)
    gate = threading.Event()

    def first():
        raise OSError("first")

    def second():
        gate.wait(10)
        raise OSError("second")

    writer.submit(second)
    writer.submit(first)
    wait_until(lambda: writer._failed)
    gate.set()
    with pytest.raises(OSError, match="first"):
        writer.close()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_bytes must be at least 1, got 0"):
        BackgroundWriter(max_bytes=0)
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        BackgroundWriter(threads=0)
