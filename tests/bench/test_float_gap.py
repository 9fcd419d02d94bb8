"""bench/float_gap.py: fair-esm's layer-by-layer float64 head is fair-esm's own, and the figures reach the docs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reference import fair_esm_model, fair_esm_softmax, write_release

from contacts.encoder.config import PRESETS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import float_gap  # noqa: E402

esm = pytest.importorskip("esm")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_streamed_head_is_fair_esms_whole_head(dtype):
    model = fair_esm_model(PRESETS["small"], seed=2, dtype=dtype)
    convert = esm.Alphabet.from_architecture("roberta_large").get_batch_converter()
    tokens = convert([("x", float_gap.sequence(50))])[2]
    with torch.no_grad(), fair_esm_softmax():
        whole = model(tokens, return_contacts=True)
    contacts, logits = float_gap.fair_esm_streamed(model, tokens)
    assert contacts.dtype == dtype and contacts.shape == (50, 50)
    # the same attention path, so the same logits to the bit; the head only sums in another order
    assert torch.equal(logits, whole["logits"][0])
    bound = 1e-15 if dtype == torch.float64 else 1e-6
    assert (contacts - whole["contacts"][0]).abs().max() < bound


def test_fair_esm_in_two_calls_is_return_contacts_to_the_bit():
    model = fair_esm_model(PRESETS["small"], seed=3)
    tokens = esm.Alphabet.from_architecture("roberta_large").get_batch_converter()([("x", float_gap.sequence(70))])[2]
    with torch.no_grad():
        whole = model(tokens, return_contacts=True)
        contacts, logits = float_gap.fair_esm_contacts(model, tokens)
    assert torch.equal(contacts, whole["contacts"][0]) and torch.equal(logits, whole["logits"][0])


def test_render_quotes_every_length_and_the_worst_float64_figure():
    rows = [{"length": 64, "float32": {"contacts": 1.2e-7, "logits": 4e-6}, "float64": {"contacts": 3e-16, "logits": 2e-14}},
            {"length": 1022, "float32": {"contacts": 8.3e-6, "logits": 5e-6}, "float64": {"contacts": 5e-16, "logits": 3e-14}}]
    section, sentence = float_gap.render({"rows": rows, "check": {"length": 128, "contacts": 1e-16,
                                                                  "native_softmax": 2e-8}},
                                         "esm1b_t33_650M_UR50S", "python bench/float_gap.py")
    assert "| 64 | 1.2e-07 | 4.0e-06 | 3.0e-16 | 2.0e-14 |" in section
    assert "| 1022 | 8.3e-06 | 5.0e-06 | 5.0e-16 | 3.0e-14 |" in section
    assert "all 660 maps" in section and "one copy is 5.2 GiB at L = 1022" in section
    assert "2.0e-08" in section
    assert sentence.startswith("On the same weights (random, in the `esm1b_t33_650M_UR50S` shape), this package's "
                               "float32 contacts differ from fair-esm's by at most 1.2e-07 at L = 64, 8.3e-06 at L = 1022")
    assert "agree to 5e-16" in sentence


def in_process(monkeypatch, dies=None):
    """Run the workers in this process (no interpreter start-up); ``dies=(impl, dtype, length)``: that
    worker is killed before that length, as the kernel kills a process out of memory."""
    ran = []

    def run(cmd, **_):
        args = cmd[2:]
        impl, dtype = args[args.index("--worker") + 1], args[args.index("--dtype") + 1]
        ran.append((impl, dtype))
        lengths = [int(x) for x in args[args.index("--lengths") + 1:]]
        if dies is not None and (impl, dtype) == dies[:2]:
            lengths = lengths[:lengths.index(dies[2])]
            args = args[:args.index("--lengths") + 1] + [str(x) for x in lengths]
        if lengths:
            float_gap.main(args)
        return subprocess.CompletedProcess(cmd, -9 if dies is not None and (impl, dtype) == dies[:2] else 0, "", "")

    monkeypatch.setattr(float_gap.subprocess, "run", run)
    return ran


def test_the_script_writes_its_section_and_the_readme_sentence(tmp_path, monkeypatch):
    doc, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    doc.write_text("# Benchmarks\n\nkept\n")
    readme.write_text("# contacts\n\n<!-- begin float-gap -->\nold\n<!-- end float-gap -->\n\nafter\n")
    ckpt = write_release(tmp_path / "release", PRESETS["tiny"], seed=0)
    ran = in_process(monkeypatch)
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    assert float_gap.main(["--preset", "tiny", "--ckpt", str(ckpt), "--lengths", "20", "40", "--threads", "1",
                           "--out", str(doc), "--readme", str(readme), "--json", str(tmp_path / "gap.json")]) == 0
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == (threads, grad)  # nothing leaks into other tests
    assert sorted(ran) == [("contacts", "float32"), ("contacts", "float64"), ("fair-esm", "float32"),
                           ("fair-esm", "float64")]
    text = doc.read_text()
    assert "kept" in text and "<!-- begin float-gap -->" in text and "| 40 |" in text
    got = readme.read_text()
    assert "old" not in got and "after" in got and "at L = 20" in got and "at L = 40" in got
    rows = json.loads((tmp_path / "gap.json").read_text())["rows"]
    assert [r["length"] for r in rows] == [20, 40]
    assert all(r["float64"]["contacts"] < 1e-12 < r["float32"]["contacts"] for r in rows)
    assert np.isfinite([r["float32"]["logits"] for r in rows]).all()


def test_a_length_a_worker_did_not_finish_is_reported_and_the_rest_kept(tmp_path, monkeypatch):
    ckpt = write_release(tmp_path / "release", PRESETS["tiny"], seed=0)
    in_process(monkeypatch, dies=("fair-esm", "float32", 40))
    assert float_gap.main(["--preset", "tiny", "--ckpt", str(ckpt), "--lengths", "20", "40", "--threads", "1",
                           "--out", str(tmp_path / "doc.md"), "--json", str(tmp_path / "gap.json")]) == 0
    text = (tmp_path / "doc.md").read_text()
    assert "| 40 | not measured: fair-esm: killed (out of memory?) | - | " in text  # float64 measured at 40
    assert "| 20 | " in text
    _, sentence = float_gap.render(json.loads((tmp_path / "gap.json").read_text()), "tiny", "")
    assert "at L = 20 (L = 40 not measured):" in sentence
