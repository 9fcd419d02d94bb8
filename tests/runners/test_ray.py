"""`contacts predict --ray`: byte-identical to one process, and a killed worker loses nothing.

The Ray tests start a local cluster of 2 CPUs on the loopback interface (through the
library's own local-cluster path, which shuts it down again). They are skipped where Ray
is not installed, except in CI (``CI=true``), where a missing Ray is a failure.
"""

import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import pytest
import torch
from reference import hub_cache

from contacts.cli import main
from contacts.io.fasta import FastaRecord, read_fasta
from contacts.io.files import atomic_write, safe_filename
from contacts.predictor import Predictor, load_model
from contacts.runners import distributed
from contacts.runners.provenance import model_identity
from contacts.runners.runfolder import ProvenanceMismatch

MODEL = "random:tiny"
HUB_REPO = "facebook/esm-tiny-test"
MAX_TOKENS = 2048
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture(scope="module")
def ray():
    try:
        return distributed.import_ray(local=True)
    except distributed.DistributedError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"ray is not installed ({distributed.INSTALL_HINT})")


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    """A few hundred short records of mixed lengths, two longer than a window, one invalid."""
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("ray") / "proteome.fasta"
    with open(path, "w") as fh:
        for k in range(240):
            n = rng.randint(1030, 1200) if k in (0, 120) else rng.randint(20, 160)
            fh.write(f">sp|R{k:03d}|TEST protein {k}\n{''.join(rng.choice(AMINO_ACIDS) for _ in range(n))}\n")
        fh.write(">broken\nMKJAY\n")
    return path


@pytest.fixture(scope="module")
def single(fasta, tmp_path_factory):
    """The single-machine command's files, run with one torch thread as each Ray worker is."""
    out = tmp_path_factory.mktemp("single")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["predict", "--model", MODEL, "--device", "cpu", str(fasta), "-o", str(out),
                     "--skip-invalid", "--max-tokens", str(MAX_TOKENS)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def _files(folder):
    """Every output file's bytes, but the run record (it holds the time it was written)."""
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if not p.name.startswith(".") and p.name != "contacts-run.json"}


def dying_worker(marker, exit_after):
    """A :class:`ShardWorker` of which exactly one replica dies in the middle of a file.

    After ``exit_after`` records, the first worker to claim ``marker`` leaves a
    half-written temporary file and ends its process, as a lost node would; the others,
    and that worker's successors on a rerun, write as usual.
    """
    marker = os.fspath(marker)

    class DyingWorker(distributed.ShardWorker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.count = 0

        def write(self, record, probs, outdir, stem, formats):
            if self.count == exit_after and _claim(marker):
                with atomic_write(outdir / f"{stem}.npy", "wb") as fh:
                    fh.write(b"\x93NUMPY")
                    fh.flush()
                    os._exit(1)
            super().write(record, probs, outdir, stem, formats)
            self.count += 1

    return DyingWorker


def _claim(path):
    """True for the one process that creates ``path``."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


@pytest.fixture
def by_value(ray):
    """Ray ships this module's classes to its workers by value (they cannot import it)."""
    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    yield
    ray.cloudpickle.unregister_pickle_by_value(module)


def test_units_repeat_the_single_process_batches(monkeypatch):
    """Running each unit alone forms exactly the batches of one run over all sequences."""
    rng = random.Random(3)
    lengths = [rng.choice([rng.randint(5, 40), rng.randint(41, 90)]) for _ in range(60)]
    seqs = ["".join(rng.choice(AMINO_ACIDS) for _ in range(n)) for n in lengths]
    model = Predictor.random("tiny", seed=2, device="cpu")
    options = {"max_tokens": 200, "window": 50, "overlap": 20}
    seen = []
    real = Predictor._contacts

    def recording(self, tokens, **options):
        seen.append(tokens.numpy().tobytes())
        return real(self, tokens, **options)

    monkeypatch.setattr(Predictor, "_contacts", recording)
    whole = dict(model.iter_contacts(seqs, **options))
    global_batches, seen[:] = list(seen), []
    units = distributed.plan_units(lengths, **options)
    assert sorted(i for unit in units for i in unit) == list(range(len(seqs)))
    assert any(len(unit) > 1 for unit in units) and len(units) > 3
    per_unit = {}
    for unit in units:
        per_unit.update({unit[i]: p for i, p in model.iter_contacts([seqs[i] for i in unit], **options)})
    assert seen == global_batches
    assert all(np.array_equal(whole[i], per_unit[i], equal_nan=True) for i in range(len(seqs)))
    # The check above can fail: alone, in a batch of its own, some sequence gets other bits.
    monkeypatch.setattr(Predictor, "_contacts", real)
    alone = [model.predict_contacts(s, **options) for s in seqs]
    assert any(not np.array_equal(whole[i], alone[i], equal_nan=True) for i in range(len(seqs)))


def test_ray_cli_matches_the_single_machine_command(ray, fasta, single, tmp_path, capsys):
    out = tmp_path / "ray"
    code = main(["predict", "--model", MODEL, "--device", "cpu", str(fasta), "-o", str(out),
                 "--skip-invalid", "--max-tokens", str(MAX_TOKENS), "--workers", "2", "--ray"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "240 written, 0 already done, 1 skipped as invalid" in captured.out
    assert "skipped broken: character 'J' at residue 3" in captured.err
    expected = _files(single)
    assert len(expected) == 3 * 240  # ID.npy, ID.rr, ID.json; the run records are compared below
    made_by = json.loads((out / "contacts-run.json").read_text())
    assert made_by["model"] == json.loads((single / "contacts-run.json").read_text())["model"]
    got = _files(out)
    assert got.keys() == expected.keys()
    assert [name for name in expected if got[name] != expected[name]] == []
    assert not ray.is_initialized()
    long_map = np.load(out / f"{safe_filename('sp|R000|TEST')}.npy")
    assert long_map.shape[0] > load_model(MODEL, device="cpu").config.max_residues


def test_killed_worker_then_rerun_completes_without_loss_or_duplicates(
        ray, by_value, fasta, single, tmp_path, capsys, monkeypatch):
    records = [r for r in read_fasta(fasta) if r.id != "broken"]
    out = tmp_path / "ray"
    exit_after = 10
    monkeypatch.setattr(distributed, "ShardWorker", dying_worker(tmp_path / "died", exit_after))
    code = main(["predict", "--model", MODEL, "--device", "cpu", str(fasta), "-o", str(out),
                 "--skip-invalid", "--max-tokens", str(MAX_TOKENS), "--workers", "2", "--ray"])
    err = capsys.readouterr().err
    assert code == 1
    stems = {r.id: safe_filename(r.id) for r in records}
    missing = sorted(rid for rid, stem in stems.items() if not (out / f"{stem}.npy").exists())
    assert 0 < len(missing) < len(records)
    assert f"{len(missing)} record(s) have no files" in err
    listed = [line.split()[1].rstrip(":") for line in err.splitlines() if line.startswith("  missing ")]
    assert len(listed) == min(20, len(missing)) and set(listed) <= set(missing)
    assert "worker died" in err
    # The worker died in the middle of a file: only a temporary name held the half, and the driver
    # removed it under the folder's lock as the run ended.
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert not any((out / f"{stems[rid]}.rr").exists() for rid in missing)
    # The driver owns the run record: what the dead worker left is failed, with the reason.
    states = {e["id"]: (e["state"], e.get("reason", "")) for e in json.loads((out / "contacts-run.json").read_text())["items"]}
    assert {rid for rid, (state, _) in states.items() if state != "done"} == set(missing)
    assert all(states[rid][0] == "failed" and "worker died" in states[rid][1] for rid in missing)

    assert (tmp_path / "died").exists()
    monkeypatch.undo()
    report = distributed.predict_on_ray(MODEL, records, out, workers=2, device="cpu",
                                        max_tokens=MAX_TOKENS, progress=False)
    assert sorted(report.written) == missing
    assert sorted(report.already_done) == sorted(set(stems) - set(missing))
    assert report.missing == {}
    assert not ray.is_initialized()
    expected, got = _files(single), _files(out)
    assert got.keys() == expected.keys()
    assert [name for name in expected if got[name] != expected[name]] == []


def no_cluster(*args, **kwargs):
    raise AssertionError("a Ray cluster was started")


def test_nothing_to_do_starts_no_cluster(ray, fasta, single, monkeypatch):
    records = [r for r in read_fasta(fasta) if r.id != "broken"]
    monkeypatch.setattr(ray, "init", no_cluster)
    report = distributed.predict_on_ray(MODEL, records, single, workers=2, progress=False)
    assert len(report.already_done) == len(records) and report.written == [] and report.workers == 0


def test_another_model_on_ray_is_refused_by_the_run_record(ray, fasta, single):
    records = [r for r in read_fasta(fasta) if r.id != "broken"]
    before = _files(single)
    with pytest.raises(ProvenanceMismatch, match=r"weights: 'random:tiny' \(sha256 \w+\) -> 'random:small'"):
        distributed.predict_on_ray("random:small", records, single, workers=1, progress=False)
    assert not ray.is_initialized()
    assert _files(single) == before


def test_a_hub_id_at_a_revision_on_ray_names_the_commit_its_workers_loaded(ray, tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # the workers start after this: they see it too
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main_snapshot = hub_cache(tmp_path / "hf", HUB_REPO)
    v2 = hub_cache(tmp_path / "hf", HUB_REPO, seed=4, branch="v2")
    rng = random.Random(3)
    records = [FastaRecord(f"r{k}", "", "".join(rng.choice(AMINO_ACIDS) for _ in range(30 + 7 * k))) for k in range(4)]
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"revision='v2' applies to HuggingFace Hub ids \(owner/name\) only"):
        distributed.predict_on_ray(MODEL, records, out, workers=1, revision="v2", progress=False)
    assert not out.exists() and not ray.is_initialized()
    report = distributed.predict_on_ray(HUB_REPO, records, out, workers=1, revision="v2", progress=False)
    assert sorted(report.written) == [r.id for r in records] and not ray.is_initialized()
    made_by = json.loads((out / "contacts-run.json").read_text())["model"]
    assert made_by["revision"] == v2.name and made_by["weights_sha256"] == model_identity(v2)["weights_sha256"]
    assert made_by["weights_sha256"] != model_identity(main_snapshot)["weights_sha256"]
    model = load_model(HUB_REPO, device="cpu", revision="v2")
    for r in records:
        np.testing.assert_allclose(np.load(out / f"{r.id}.npy"), model.predict_contacts(r.sequence), rtol=0, atol=1e-6)
    # the driver resolves the same commit from the cache: nothing to do, no cluster
    monkeypatch.setattr(ray, "init", no_cluster)
    again = distributed.predict_on_ray(HUB_REPO, records, out, workers=1, revision="v2", progress=False)
    assert len(again.already_done) == len(records)


def test_too_many_workers_is_refused_by_name(ray, fasta, tmp_path):
    records = read_fasta(fasta)[:3]
    # Ray's socket paths must stay short: a temporary folder of its own, not pytest's.
    temp_dir = tempfile.mkdtemp(prefix="ray-")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=distributed.LOCAL_OBJECT_STORE_BYTES,
             _temp_dir=temp_dir, log_to_driver=False)
    try:
        with pytest.raises(distributed.DistributedError, match=r"3 worker\(s\) x 1 CPU\(s\) need 3 CPUs; "
                                                                 r"the Ray cluster has 2"):
            distributed.predict_on_ray(MODEL, records, tmp_path / "out", workers=3, progress=False)
        with pytest.raises(distributed.DistributedError, match="cannot also connect to 'auto'"):
            distributed.predict_on_ray(MODEL, records, tmp_path / "out", address="auto", progress=False)
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_without_ray_the_command_says_how_to_get_it(fasta, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["predict", "--model", MODEL, str(fasta), "-o", str(tmp_path / "out"), "--skip-invalid", "--ray"])
    assert code == 1
    assert "pip install 'esm-contacts[ray]'" in capsys.readouterr().err
    assert main(["predict", "--model", MODEL, str(fasta), "-o", str(tmp_path / "out"), "--workers", "2"]) == 1
    assert "--workers 2 needs --ray" in capsys.readouterr().err



@pytest.mark.parametrize(
    ("resources", "workers", "device", "expected"),
    [
        ({"CPU": 16, "GPU": 4}, None, None, distributed.Placement(4, 1, "cuda")),
        ({"CPU": 16, "GPU": 4}, 2, "cuda", distributed.Placement(2, 1, "cuda")),
        ({"CPU": 16, "GPU": 4}, None, "cpu", distributed.Placement(8, 0, "cpu")),
        ({"CPU": 16}, None, None, distributed.Placement(8, 0, "cpu")),
    ],
)
def test_one_replica_per_gpu_each_holding_one(resources, workers, device, expected):
    assert distributed.worker_placement(resources, workers, 2, device) == expected


def test_placement_refuses_more_gpu_workers_than_gpus():
    with pytest.raises(distributed.DistributedError, match="5 worker.* need one GPU each; the Ray cluster has 4"):
        distributed.worker_placement({"CPU": 64, "GPU": 4}, 5, 2, None)


def test_html_pages_on_ray_are_the_single_machines_byte_for_byte(ray, fasta, tmp_path):
    from contacts.runners.predict import predict_to_dir

    records = [r for r in read_fasta(fasta) if r.id != "broken"][1:5]
    options = {"formats": ("npy", "html"), "progress": False, "max_tokens": MAX_TOKENS}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predict_to_dir(load_model(MODEL, device="cpu"), records, tmp_path / "single", source=MODEL, **options)
    finally:
        torch.set_num_threads(threads)
    report = distributed.predict_on_ray(MODEL, records, tmp_path / "ray", workers=1, **options)
    assert len(report.written) == 4
    expected, got = _files(tmp_path / "single"), _files(tmp_path / "ray")
    assert sorted(n for n in expected if n.endswith(".html")) == sorted(
        [f"{safe_filename(r.id)}.html" for r in records] + ["index.html"])
    assert got.keys() == expected.keys()
    assert [name for name in expected if got[name] != expected[name]] == []
