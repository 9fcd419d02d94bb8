"""`contacts predict` and the batch runner: outputs, resumption, atomicity, bad records."""

import gzip
import json
import threading

import numpy as np
import pytest
from reference import write_release

import contacts
from contacts.cli import main
from contacts.encoder.config import PRESETS
from contacts.io.fasta import FastaFormatError, FastaRecord, read_fasta
from contacts.io.files import safe_filename
from contacts.runners import distributed, predict, runfolder

FASTA = """>sp|P1|ONE first protein
MKTAYIAKQR
QISFVKSHFSRQ
>two
GSHMDEKLLR
>three
ACDEFGHIKLMNPQRSTVWY
"""


@pytest.fixture(scope="module")
def model():
    return contacts.Predictor.random("tiny", seed=1, device="cpu")


def test_read_fasta_plain_and_gzipped(tmp_path):
    plain = tmp_path / "a.fasta"
    plain.write_text(FASTA)
    packed = tmp_path / "a.fa.gz"
    packed.write_bytes(gzip.compress(FASTA.encode()))
    for path in (plain, packed):
        records = read_fasta(path)
        assert [r.id for r in records] == ["sp|P1|ONE", "two", "three"]
        assert records[0].sequence == "MKTAYIAKQRQISFVKSHFSRQ"
    bad = tmp_path / "bad.fasta"
    bad.write_text("MKT\n>x\nMK\n")
    with pytest.raises(FastaFormatError, match="bad.fasta line 1: sequence before the first"):
        read_fasta(bad)


def test_safe_filename():
    assert safe_filename("sp|P69905|HBA_HUMAN") == "sp_P69905_HBA_HUMAN"
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"


def test_outputs_match_the_api_and_rerun_skips(model, tmp_path):
    records = read_fasta(_write(tmp_path, FASTA))
    report = predict.predict_to_dir(model, records, tmp_path / "out", progress=False)
    assert sorted(report.written) == sorted(r.id for r in records)
    for r in records:
        stem = safe_filename(r.id)
        probs = np.load(tmp_path / "out" / f"{stem}.npy")
        assert probs.dtype == np.float32
        np.testing.assert_allclose(probs, model.predict_contacts(r.sequence), atol=1e-6)
        rr = (tmp_path / "out" / f"{stem}.rr").read_text()
        assert r.id in rr and r.sequence in rr.replace("\n", "")
    again = predict.predict_to_dir(model, records, tmp_path / "out", progress=False)
    assert again.written == [] and sorted(again.already_done) == sorted(r.id for r in records)


def test_a_rerun_with_other_formats_removes_the_old_ones_and_only_those_listed(model, tmp_path):
    records = read_fasta(_write(tmp_path, FASTA))[:1]
    out = tmp_path / "out"
    predict.predict_to_dir(model, records, out, formats=("npy", "rr", "png"), progress=False)
    stem = safe_filename(records[0].id)
    assert (out / f"{stem}.png").exists()
    report = predict.predict_to_dir(model, records, out, formats=("npy", "html"), progress=False)
    assert report.written == [records[0].id]  # no page yet: written again, and the PNG and RR file go
    assert {p.name for p in out.iterdir()} == {"contacts-run.json", "index.html", *(f"{stem}.{suffix}" for suffix in (
        "html", "json", "npy"))}
    # present: what the folder held when the run began; a name not in it is not tried
    (out / f"{stem}.rr").write_text("made after the listing")
    predict.write_outputs(records[0], np.zeros((22, 22), np.float32), out, stem, ("npy",), present=set())
    assert (out / f"{stem}.rr").exists()
    predict.write_outputs(records[0], np.zeros((22, 22), np.float32), out, stem, ("npy",), present={f"{stem}.rr"})
    assert not (out / f"{stem}.rr").exists()


def test_interrupted_run_leaves_no_half_files_and_resumes(model, tmp_path, monkeypatch):
    records = read_fasta(_write(tmp_path, FASTA))
    real = predict.write_outputs
    calls = []

    def crash_on_second(record, probs, outdir, stem, formats, method="contacts", **options):
        calls.append(record.id)
        if len(calls) == 2:
            np.save(outdir / "ignored.npy", probs)  # noise, not one of ours
            raise KeyboardInterrupt
        return real(record, probs, outdir, stem, formats, method, **options)

    monkeypatch.setattr(predict, "write_outputs", crash_on_second)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        predict.predict_to_dir(model, records, tmp_path / "out", progress=False)
    assert (interrupted.value.done, interrupted.value.total) == (1, 3)
    assert not list((tmp_path / "out").glob(".*part"))
    monkeypatch.setattr(predict, "write_outputs", real)
    report = predict.predict_to_dir(model, records, tmp_path / "out", progress=False)
    assert len(report.already_done) == 1 and len(report.written) == 2


def test_files_are_written_beside_the_model_and_a_write_error_ends_the_run(model, tmp_path, monkeypatch):
    """write_outputs runs in the writer's thread; its OSError (a full disk) is the run's error, and the
    records written before it are whole."""
    records = read_fasta(_write(tmp_path, FASTA))
    real, threads = predict.write_outputs, []

    def full_disk_on_second(record, probs, outdir, stem, formats, method="contacts", **options):
        threads.append(threading.current_thread().name)
        if len(threads) == 2:
            raise OSError(28, "No space left on device")
        return real(record, probs, outdir, stem, formats, method, **options)

    monkeypatch.setattr(predict, "write_outputs", full_disk_on_second)
    with pytest.raises(OSError, match="No space left"):
        predict.predict_to_dir(model, records, tmp_path / "out", progress=False, max_tokens=30)
    assert threads == ["contacts-writer", "contacts-writer"]
    done = [p.stem for p in (tmp_path / "out").glob("*.json") if p.name != "contacts-run.json"]
    assert len(done) == 1 and np.load(tmp_path / "out" / f"{done[0]}.npy").ndim == 2
    assert not list((tmp_path / "out").glob(".*part"))
    record = json.loads((tmp_path / "out" / runfolder.RUN_RECORD).read_text())
    assert record["state"] == "failed" and "No space left on device" in record["reason"]
    states = {e["id"]: e["state"] for e in record["items"]}
    assert sorted(states.values()) == ["done", "pending", "pending"]
    assert [safe_filename(i) for i, state in states.items() if state == "done"] == done


def test_the_writer_reports_to_the_run_record_under_the_folder_lock(model, tmp_path, monkeypatch):
    """Each record's files are reported to the run record from the writer's thread while the folder's lock is
    held; index.html is written after the writer has drained, in the main thread, and lists every page."""
    records = read_fasta(_write(tmp_path, FASTA))
    out, seen = tmp_path / "out", []
    real_mark, real_index = runfolder.RunFolder.mark_done, predict.write_index

    def mark_done(self, files, results=None):
        with pytest.raises(runfolder.FolderBusy):  # a second run is refused: this run holds the lock
            runfolder.FolderLock(out / runfolder.LOCK, "predict").acquire()
        seen.append((threading.current_thread().name, *files))
        return real_mark(self, files, results)

    def write_index(outdir, valid):
        seen.append((threading.current_thread().name, "index"))
        return real_index(outdir, valid)

    monkeypatch.setattr(runfolder.RunFolder, "mark_done", mark_done)
    monkeypatch.setattr(predict, "write_index", write_index)
    report = predict.predict_to_dir(model, records, out, formats=("npy", "html"), progress=False, max_tokens=30)
    assert sorted(report.written) == sorted(r.id for r in records)
    assert sorted(seen[:3]) == sorted(("contacts-writer", r.id) for r in records)
    assert seen[3:] == [("MainThread", "index")]
    record = json.loads((out / runfolder.RUN_RECORD).read_text())
    assert record["state"] == "done" and [e["state"] for e in record["items"]] == ["done"] * 3
    assert "index.html" in record["files"] and not (out / runfolder.LOCK).exists()
    index = (out / "index.html").read_text()
    assert all(f'href="{safe_filename(r.id)}.html"' in index for r in records)


def test_writer_budget_is_a_few_batches_of_maps_and_one_thread_on_the_cpu(monkeypatch):
    assert predict.writer_bytes(4096, 500) == 3 * 4096 * 500 * 4
    assert predict.writer_bytes(100, 10) == 16 * 2**20
    monkeypatch.setattr(predict.os, "cpu_count", lambda: 16)
    assert predict.writer_threads("cpu", ("npy", "rr")) == 1 and predict.writer_threads("cuda", ("npy", "png")) == 1
    assert predict.writer_threads("cuda", ("npy", "rr")) == 4


def test_a_ray_worker_reports_a_record_it_could_not_write_and_writes_the_others(tmp_path, monkeypatch):
    records = read_fasta(_write(tmp_path, FASTA))
    worker = distributed.ShardWorker("random:tiny", {"device": "cpu"}, threads=1)
    real = worker.write

    def refuse_two(record, probs, outdir, stem, formats):
        if record.id == "two":
            raise PermissionError(13, "Permission denied")
        real(record, probs, outdir, stem, formats)

    monkeypatch.setattr(worker, "write", refuse_two)
    stems = {r.id: safe_filename(r.id) for r in records}
    result = worker.run([records], str(tmp_path / "out"), stems, ("npy", "rr"), {"max_tokens": 30})
    assert sorted(result.written) == ["sp|P1|ONE", "three"]
    assert result.failed == {"two": "PermissionError: [Errno 13] Permission denied"}
    assert (tmp_path / "out" / "three.rr").exists() and not (tmp_path / "out" / "two.npy").exists()


def test_bad_records_are_named(model, tmp_path):
    records = [FastaRecord("ok", "ok", "MKTAY"), FastaRecord("empty", "empty", ""),
               FastaRecord("bad", "bad", "MKJAY")]
    with pytest.raises(contacts.InvalidSequenceError) as err:
        predict.predict_to_dir(model, records, tmp_path / "out", progress=False)
    assert "empty: empty sequence (no residues)" in str(err.value)
    assert "bad: character 'J' at residue 3" in str(err.value)
    assert not (tmp_path / "out").exists()
    report = predict.predict_to_dir(model, records, tmp_path / "out", skip_invalid=True, progress=False)
    assert report.written == ["ok"] and sorted(report.invalid) == ["bad", "empty"]
    with pytest.raises(ValueError, match=r"ok: duplicate id \(2 records\)"):
        predict.predict_to_dir(model, records[:1] * 2, tmp_path / "out2", progress=False)


def test_every_problem_of_every_record_at_once():
    records = [FastaRecord("a", "a", "MKJAYB-Z.Q"), FastaRecord("a", "a", "MKT"), FastaRecord("e", "e", " "),
               FastaRecord("x|1", "x|1", "MK"), FastaRecord("x_1", "x_1", "M<cls>K")]
    _, invalid = predict.check_records(records)
    gap = "(an alignment symbol, not a residue: remove gaps or use the ungapped sequence)"
    assert invalid["a"].split("; ") == [
        "duplicate id (2 records)", "character 'J' at residue 3", f"gap '-' at residue 7 {gap}", f"gap '.' at residue 9 {gap}"]
    assert invalid["e"] == "empty sequence (no residues)"
    _, reserved = predict.check_records([FastaRecord("contacts-run", "contacts-run", "MKT")])
    assert reserved == {"contacts-run": "file name 'contacts-run' is the run record's (contacts-run.json)"}
    assert invalid["x|1"] == "same file name 'x_1' as ['x_1']"
    assert invalid["x_1"].split("; ") == ["same file name 'x_1' as ['x|1']", "token '<cls>' at residue 2 (only <mask> is accepted)"]


def test_rr_top_spec():
    assert [predict.rr_pairs(s, 50) for s in (None, 7, "7", "2L", "L", "0.5L", "L/5")] == [None, 7, 7, 100, 50, 25, 10]
    for bad in ("0", "-3", "L/0", "xL", "2Lx"):
        with pytest.raises(ValueError, match="RR top"):
            predict.rr_pairs(bad, 50)


def test_cli_predict_fasta_and_sequence(tmp_path, capsys):
    release = write_release(tmp_path / "model", PRESETS["tiny"])
    fasta = _write(tmp_path, FASTA)
    assert main(["predict", "--model", str(release), str(fasta), "-o", str(tmp_path / "out"), "--png"]) == 0
    assert "3 written" in capsys.readouterr().out
    assert (tmp_path / "out" / "sp_P1_ONE.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["predict", "--model", str(release), "MKTAYIAK", "-o", str(tmp_path / "one")]) == 0
    assert np.load(tmp_path / "one" / "sequence.npy").shape == (8, 8)
    assert main(["predict", "--model", str(release), "no_such.fasta", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.endswith("contacts predict: error: no_such.fasta: no such file (INPUT takes a "
                                            "FASTA file or a protein sequence)\n")


def _write(tmp_path, text):
    path = tmp_path / "in.fasta"
    path.write_text(text)
    return path


def _page_data(path):
    """The data a saved explorer page embeds (contacts.viz.explorer.Explorer.payload), decoded."""
    import base64
    import re

    text = path.read_text()
    blob = json.loads(re.search(r'<script type="application/json" id="cx-data-\w+">(.*?)</script>', text, re.S)
                      .group(1).replace("<\\/", "</"))
    meta = blob["meta"]
    arrays = {k: gzip.decompress(base64.b64decode(v)) for k, v in blob["arrays"].items()}
    return meta, arrays


def test_html_pages_hold_the_map_and_an_index_links_them(model, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(FASTA)
    records = read_fasta(fasta)
    out = tmp_path / "out"
    report = predict.predict_to_dir(model, records, out, formats=("npy", "html"), progress=False)
    assert len(report.written) == 3
    for r in records:
        stem = safe_filename(r.id)
        meta, arrays = _page_data(out / f"{stem}.html")
        probs = np.load(out / f"{stem}.npy")
        n = len(r.sequence)
        assert meta["n"] == n and meta["sequence"] == r.sequence and meta["title"] == r.id
        assert meta["structure"] is None and meta["labels"] is None and meta["js3dmol"] is None
        stored = np.frombuffer(arrays[meta["maps"]["prediction"]["values"]], "<f4")
        np.testing.assert_array_equal(stored, probs[np.triu_indices(n, 1)])
        assert f"{stem}.html" in json.loads((out / f"{stem}.json").read_text())["files"]
    index = (out / "index.html").read_text()
    links = [f'<a href="{safe_filename(r.id)}.html">{r.id}</a>' for r in records]
    assert all(link in index for link in links)
    assert [index.index(link) for link in links] == sorted(index.index(link) for link in links)  # input order
    # a page lost: the rerun writes it again, and the index lists only pages that are there
    (out / "two.html").unlink()
    again = predict.predict_to_dir(model, records, out, formats=("npy", "html"), progress=False)
    assert again.written == ["two"] and (out / "two.html").exists() and "two.html" in (out / "index.html").read_text()


def test_a_record_named_index_cannot_take_the_index_pages_name(model, tmp_path):
    records = [FastaRecord("index", "index", "MKTAYIAKQR"), FastaRecord("two", "two", "GSHMDEKLLR")]
    with pytest.raises(contacts.InvalidSequenceError, match=r"index: file name 'index' is the index page's"):
        predict.predict_to_dir(model, records, tmp_path / "a", formats=("npy", "html"), progress=False)
    report = predict.predict_to_dir(model, records, tmp_path / "b", formats=("npy", "html"), progress=False,
                                    skip_invalid=True)
    assert report.written == ["two"] and list(report.invalid) == ["index"]
    assert 'href="two.html"' in (tmp_path / "b" / "index.html").read_text()
    # without --html the name is free
    assert predict.predict_to_dir(model, records[:1], tmp_path / "c", progress=False).written == ["index"]


def test_cli_predict_html(tmp_path, capsys):
    release = write_release(tmp_path / "model", PRESETS["tiny"])
    assert main(["predict", "--model", str(release), "MKTAYIAKQRQISFVK", "-o", str(tmp_path / "out"), "--html"]) == 0
    assert "1 written" in capsys.readouterr().out
    meta, _ = _page_data(tmp_path / "out" / "sequence.html")
    assert meta["sequence"] == "MKTAYIAKQRQISFVK"
    assert 'href="sequence.html"' in (tmp_path / "out" / "index.html").read_text()
