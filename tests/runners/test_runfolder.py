"""The run-folder contract on its own: record fields and states, resume, refusals, --overwrite, the lock,
batched updates from a writer thread, a lagging record reconciled."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from contacts.runners import runfolder
from contacts.runners.runfolder import (
    DONE,
    LOCK,
    RUN_RECORD,
    FolderBusy,
    FolderLock,
    ForeignRunError,
    ProvenanceMismatch,
    RunFolder,
)

SETTINGS = {"model": {"source": "random:tiny", "weights_sha256": "a" * 64, "regression_sha256": "b" * 64},
            "options": {"dtype": "float32", "window": 1022, "betas": (0.9, 0.999)}}
ITEMS = [{"id": f"r{i}", "sequence_sha256": f"{i:064d}"} for i in range(5)]


def _record(folder: Path, name: str = RUN_RECORD) -> dict:
    return json.loads((folder / name).read_text())


def _write(folder: Path, name: str, text: str = "x") -> str:
    (folder / name).write_text(text)
    return name


def _run_three(folder: Path, **options) -> None:
    with RunFolder(folder, "predict", SETTINGS, **options) as run:
        run.start(ITEMS, unit="record")
        for item in ITEMS[:3]:
            run.mark_done({item["id"]: [_write(folder, f"{item['id']}.npy")]})


def test_record_fields_states_and_created_kept_by_a_rerun(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=runfolder.__name__)
    _run_three(tmp_path)
    first = _record(tmp_path)
    assert first["format"] == "contacts-run/2" and first["command"] == "predict" and first["state"] == "incomplete"
    assert first["contacts_version"] and first["torch_version"] and first["updated"] >= first["created"]
    assert first["model"] == SETTINGS["model"] and first["options"]["betas"] == [0.9, 0.999]
    assert [(e["id"], e["state"], e["files"]) for e in first["items"]] == [
        ("r0", DONE, ["r0.npy"]), ("r1", DONE, ["r1.npy"]), ("r2", DONE, ["r2.npy"]), ("r3", "pending", []),
        ("r4", "pending", [])]
    assert not (tmp_path / LOCK).exists()
    time.sleep(1.1)  # created is kept to the second
    caplog.clear()
    with RunFolder(tmp_path, "predict", SETTINGS) as run:
        run.start(ITEMS, unit="record")
        # said at the start, before any work
        assert caplog.messages == ["resuming: 3 of 5 records done"]
        assert run.pending() == ["r3", "r4"]
        run.mark_failed("r3", "worker died")
        run.mark_done({"r4": [_write(tmp_path, "r4.npy")]})
    second = _record(tmp_path)
    assert second["created"] == first["created"] and second["updated"] > first["created"]
    assert [(e["id"], e["state"], e.get("reason")) for e in second["items"]][3:] == [
        ("r3", "failed", "worker died"), ("r4", DONE, None)]
    assert second["state"] == "incomplete"


def test_a_changed_input_is_done_again_and_its_old_files_removed(tmp_path):
    _run_three(tmp_path)
    changed = [dict(ITEMS[0], sequence_sha256="f" * 64), *ITEMS[1:]]
    _write(tmp_path, "unrelated.txt")
    with RunFolder(tmp_path, "predict", SETTINGS) as run:
        run.start(changed)
        assert run.pending() == ["r0", "r3", "r4"]
    assert not (tmp_path / "r0.npy").exists() and (tmp_path / "r1.npy").exists()
    assert (tmp_path / "unrelated.txt").exists()


def test_other_settings_are_refused_in_plain_words_and_overwrite_removes_only_the_listed_files(tmp_path):
    _run_three(tmp_path)
    mine = _write(tmp_path, "notes.txt")
    other = {**SETTINGS, "options": {**SETTINGS["options"], "dtype": "bfloat16"}}
    with pytest.raises(ProvenanceMismatch, match=r"\(dtype: 'float32' -> 'bfloat16'\); --overwrite replaces") as refused:
        RunFolder(tmp_path, "predict", other).open()
    assert "weights" not in str(refused.value)
    assert not (tmp_path / LOCK).exists()  # a refusal releases the lock
    with RunFolder(tmp_path, "predict", other, overwrite=True) as run:
        run.start(ITEMS)
        assert run.pending() == [i["id"] for i in ITEMS]
    assert sorted(p.name for p in tmp_path.iterdir()) == [RUN_RECORD, mine]


def test_another_commands_folder_and_another_runs_files_are_refused(tmp_path):
    _run_three(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(ForeignRunError, match=r"holds the run of 'contacts predict' \(contacts-run.json\); "
                                                  r"'contacts analyze-heads' keeps its files apart"):
            RunFolder(tmp_path, "analyze-heads", SETTINGS, overwrite=overwrite).open()
    # a file command beside it: its own record; a name the folder's record lists is refused
    with pytest.raises(ForeignRunError, match=r"r1.npy belongs to the run of 'contacts predict' recorded in "):
        RunFolder(tmp_path, "evaluate", SETTINGS, record="r1.npy.run.json", outputs=["r1.npy"]).open()
    with RunFolder(tmp_path, "evaluate", SETTINGS, record="ev.run.json", outputs=["ev.csv"]) as run:
        run.start([{"id": "A"}])
        run.mark_done({"A": []})
        run.add_files([_write(tmp_path, "ev.csv")])
    assert _record(tmp_path, "ev.run.json")["files"] == ["ev.csv"] and _record(tmp_path)["command"] == "predict"


def test_outputs_that_no_record_names_are_refused_unless_overwrite(tmp_path):
    _write(tmp_path, "probe.pt")
    with pytest.raises(ProvenanceMismatch, match=r"probe.pt already exist\(s\) and no run record \(probe.pt.run.json\)"):
        RunFolder(tmp_path, "train-probe", SETTINGS, record="probe.pt.run.json", outputs=["probe.pt"]).open()
    with RunFolder(tmp_path, "train-probe", SETTINGS, record="probe.pt.run.json", outputs=["probe.pt"],
                   overwrite=True) as run:
        run.start([{"id": "probe.pt"}])
    assert (tmp_path / "probe.pt").exists()  # not listed anywhere: replaced by the run, never removed by it


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    first = RunFolder(tmp_path, "predict", SETTINGS).open()
    try:
        with pytest.raises(FolderBusy, match=rf"is in use by another run \(contacts predict, PID {os.getpid()}, "
                                             r"started .*\); wait for it to end, or choose another output folder"):
            RunFolder(tmp_path, "predict", SETTINGS).open()
        leftover = tmp_path / ".r0.npy.abcd1234.part"
        leftover.write_bytes(b"half")  # a live run's temporary file: a refused run leaves it alone
        with pytest.raises(FolderBusy):
            RunFolder(tmp_path, "predict", SETTINGS).open()
        assert leftover.exists()
    finally:
        first.close()
    RunFolder(tmp_path, "predict", SETTINGS).open().close()  # free again
    assert not leftover.exists()  # removed once the lock was held


HOLD = """
import sys, time
from contacts.runners.runfolder import FolderLock
FolderLock(sys.argv[1], "predict").acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_whose_holder_was_killed_is_taken_over_with_a_note(tmp_path, caplog):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / LOCK)], stdout=subprocess.PIPE, text=True,
                              env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"PID {holder.pid}"):
            RunFolder(tmp_path, "predict", SETTINGS).open()
    finally:
        holder.kill()  # SIGKILL: no cleanup; the kernel drops the flock
        holder.wait()
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == holder.pid
    caplog.set_level(logging.INFO, logger=runfolder.__name__)
    with RunFolder(tmp_path, "predict", SETTINGS):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert caplog.messages[0].startswith(f"took over the lock of a run that is gone (contacts predict, PID {holder.pid}")
    assert not (tmp_path / LOCK).exists()


def test_the_lock_names_its_holder_and_is_gone_after_release(tmp_path):
    lock = FolderLock(tmp_path / LOCK, "evaluate")
    lock.acquire()
    held = json.loads((tmp_path / LOCK).read_text())
    assert held["pid"] == os.getpid() and held["command"] == "evaluate" and held["host"]
    lock.release()
    assert not (tmp_path / LOCK).exists()


def test_ctrl_c_inside_a_run_leaves_the_states_and_no_part(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(tmp_path, "predict", SETTINGS) as run:
            run.start(ITEMS)
            run.mark_done({"r0": [_write(tmp_path, "r0.npy")]})
            (tmp_path / ".r1.npy.abcd1234.part").write_bytes(b"half")  # stranded between mkstemp and its guard
            raise KeyboardInterrupt
    record = _record(tmp_path)
    assert record["state"] == "interrupted" and [e["state"] for e in record["items"]] == [DONE] + ["pending"] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [RUN_RECORD, "r0.npy"]
    with pytest.raises(RuntimeError):
        with RunFolder(tmp_path, "predict", SETTINGS) as run:
            run.start(ITEMS)
            raise RuntimeError("boom\nsecond line")
    assert _record(tmp_path)["state"] == "failed" and _record(tmp_path)["reason"] == "RuntimeError: boom"


def test_the_record_is_written_every_n_items_or_t_seconds(tmp_path):
    run = RunFolder(tmp_path, "predict", SETTINGS, flush_every=2, flush_seconds=3600).open()
    try:
        run.start(ITEMS)
        run.mark_done({"r0": []})
        assert [e["state"] for e in _record(tmp_path)["items"]][:2] == ["pending", "pending"]  # lags by design
        run.mark_done({"r1": []})
        assert [e["state"] for e in _record(tmp_path)["items"]][:2] == [DONE, DONE]
        run.flush_every, run.flush_seconds = 10**6, 0.0
        run.mark_done({"r2": []})
        assert _record(tmp_path)["items"][2]["state"] == DONE
    finally:
        run.close()


def test_a_writer_thread_marks_batches_while_the_main_thread_reads(tmp_path):
    items = [{"id": f"s{i}"} for i in range(2000)]
    with RunFolder(tmp_path, "predict", SETTINGS, flush_every=50) as run:
        run.start(items)

        def writer():
            for k in range(0, 2000, 10):
                run.mark_done({f"s{i}": [f"s{i}.npy"] for i in range(k, k + 10)})

        thread = threading.Thread(target=writer)
        thread.start()
        seen = []
        while thread.is_alive():
            seen.append(run.count(DONE))
        thread.join()
        assert seen == sorted(seen) and run.count(DONE) == 2000
    record = _record(tmp_path)
    assert record["state"] == DONE and all(e["files"] == [f"{e['id']}.npy"] for e in record["items"])


def test_a_record_that_lagged_behind_a_kill_is_reconciled_from_the_items_own_proof(tmp_path):
    # kill -9 between two writes: r0..r2 wrote their proof, the record still says pending
    with RunFolder(tmp_path, "predict", SETTINGS, flush_every=10**6, flush_seconds=3600) as run:
        run.start(ITEMS)
        proofs = {i["id"]: [_write(tmp_path, f"{i['id']}.json")] for i in ITEMS[:3]}
        run.mark_done(proofs)
        run.close = lambda error=None: run._folder_lock.release()  # as if killed: no final write
    assert [e["state"] for e in _record(tmp_path)["items"]] == ["pending"] * 5
    with RunFolder(tmp_path, "predict", SETTINGS) as run:
        run.start(ITEMS, done=lambda item: [f"{item['id']}.json"] if (tmp_path / f"{item['id']}.json").exists()
                  else None)
        assert run.pending() == ["r3", "r4"]


def test_work_that_cannot_resume_midway_starts_over(tmp_path, caplog):
    steps = [{"id": f"checkpoint_{s}.pt", "step": s} for s in (2, 4, 6)]
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(tmp_path, "finetune", SETTINGS) as run:
            run.start(steps, resumable=False)
            run.mark_done({"checkpoint_2.pt": [_write(tmp_path, "checkpoint_2.pt")]})
            raise KeyboardInterrupt
    caplog.set_level(logging.INFO, logger=runfolder.__name__)
    with RunFolder(tmp_path, "finetune", SETTINGS) as run:
        run.start(steps, unit="checkpoint", resumable=False)
        assert run.pending() == [s["id"] for s in steps]
    assert caplog.messages == ["starting over: 1 of 3 checkpoints were done, but 'contacts finetune' cannot resume "
                               "midway"]
    assert not (tmp_path / "checkpoint_2.pt").exists()


def test_a_version_1_record_is_read_and_its_files_known_to_overwrite(tmp_path):
    old = {"format": "contacts-run/1", "command": "predict", "created": "2026-01-01T00:00:00+00:00", **SETTINGS,
           "formats": ["npy", "rr"], "records": [{"id": "a", "sequence_sha256": "0", "length": 3, "file": "a"}]}
    (tmp_path / RUN_RECORD).write_text(json.dumps(old))
    for name in ("a.npy", "a.rr", "a.json", "b.txt"):
        _write(tmp_path, name)
    with RunFolder(tmp_path, "predict", SETTINGS, overwrite=True) as run:
        run.start([])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", RUN_RECORD]


def test_a_flush_writes_what_changed_since_the_last_and_the_same_bytes_as_one_dump(tmp_path):
    """Item texts are kept between flushes and remade only for items that changed: the file never holds
    a stale item, and reads byte for byte as ``json.dumps(record, indent=1)`` of what it holds."""
    run = RunFolder(tmp_path, "predict", SETTINGS, flush_every=10**6, flush_seconds=3600).open()
    run.start(ITEMS, done=lambda item: None)

    def written() -> dict:
        text = (tmp_path / RUN_RECORD).read_text()
        record = json.loads(text)
        assert text == json.dumps(record, indent=1) + "\n"
        return {e["id"]: e for e in record["items"]}

    run.mark_done({"r0": ["r0.npy"], "r1": ["r1.npy"]})
    run.flush()
    assert [written()[i]["state"] for i in ("r0", "r1", "r2")] == [DONE, DONE, "pending"]
    run.add_files(["r2.npy"], item="r2")
    run.mark_failed("r3", "disk full")
    run.mark_done({"r0": ["r0.npy", "r0.rr"]}, results={"r0": {"precision": 0.5}})
    run.flush()
    items = written()
    assert items["r0"]["files"] == ["r0.npy", "r0.rr"] and items["r0"]["result"] == {"precision": 0.5}
    assert items["r1"]["files"] == ["r1.npy"] and items["r2"]["files"] == ["r2.npy"]
    assert items["r3"]["state"] == "failed" and items["r3"]["reason"] == "disk full"
    run.mark_done({"r3": ["r3.npy"]})
    run.close()
    items = written()
    assert items["r3"]["state"] == DONE and "reason" not in items["r3"] and items["r4"]["state"] == "pending"
