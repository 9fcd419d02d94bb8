"""Atomic writes: the umask they honour, read without disturbing the process's own."""

import os
import stat
import threading

import pytest

from contacts.io import files


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_current_umask_reads_the_umask_without_setting_it(umask_027, monkeypatch):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc: the umask is read by setting it back under a lock")

    def refuse(mask):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(files.os, "umask", refuse)
    assert files.current_umask() == 0o027


def test_without_proc_the_umask_is_set_back_under_a_lock(umask_027, monkeypatch):
    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert files.current_umask() == 0o027 and os.umask(0o027) == 0o027


def test_writer_threads_writing_at_once_keep_the_umask_and_each_file_its_mode(umask_027, tmp_path):
    def write(k):
        for n in range(50):
            with files.atomic_write(tmp_path / f"{k}-{n}.txt") as fh:
                fh.write("x")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert os.umask(0o027) == 0o027
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}
