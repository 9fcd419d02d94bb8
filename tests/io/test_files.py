"""Atomic writes: the umask they honour (without reading or setting it), their temporary names."""

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


def test_the_umask_is_neither_read_nor_set(umask_027, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the umask was read or set")

    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            refuse()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "umask", refuse)
    monkeypatch.setattr("builtins.open", no_proc)
    with files.atomic_write(tmp_path / "out.txt") as fh:
        fh.write("x")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o640


def test_a_temporary_name_in_use_is_left_alone_and_another_drawn(monkeypatch, tmp_path):
    draws = iter([b"\0" * 5, b"\1" * 5])
    monkeypatch.setattr(files, "_random_bytes", lambda n: next(draws))
    taken = tmp_path / ".out.txt.aaaaaaaa.part"  # what the first draw names
    taken.write_text("another writer's")
    with files.atomic_write(tmp_path / "out.txt") as fh:
        fh.write("mine")
    assert (tmp_path / "out.txt").read_text() == "mine" and taken.read_text() == "another writer's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.txt.aaaaaaaa.part", "out.txt"]
    assert files.PART_PATTERN.match(taken.name)


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


def test_write_atomic_writes_in_one_piece_makes_the_folder_and_leaves_nothing_when_it_fails(umask_027, tmp_path,
                                                                                          failing_replace):
    data = os.urandom(3 * 2**20 + 7)  # larger than one write() may take at once on some systems
    path = files.write_atomic(tmp_path / "new" / "folder" / "out.bin", memoryview(data))
    assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(path.parent) == ["out.bin"]
    failing_replace()
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(path, b"other")
    assert path.read_bytes() == data and os.listdir(path.parent) == ["out.bin"]


def test_a_forked_child_draws_other_temporary_names_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next draw, to the parent
        os.write(write, files._random_bytes(5))
        os._exit(0)
    os.close(write)
    child = os.read(read, 5)
    os.waitpid(pid, 0)
    os.close(read)
    assert child != files._random_bytes(5)  # same state without the reseed: the same 40 bits
