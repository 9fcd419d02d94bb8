"""read_layers: one pass per protein, every layer to every reader that reads it; probes need only the model protocol."""

from __future__ import annotations

import numpy as np
import pytest
from doubles import Counting, assert_same, made_up_proteins

from contacts import Predictor
from probes.attention import attention_properties, head_statistics
from probes.heads import head_scores
from probes.pairs import collect_pairs
from probes.passes import read_layers
from probes.probing import layer_probes

pytestmark = pytest.mark.usefixtures("one_thread")

PROTEINS = made_up_proteins()


@pytest.fixture(scope="module")
def small():
    return Predictor.random("small", seed=2, device="cpu")  # 6 layers x 4 heads


class Recorder:
    """Records what it is fed."""

    def __init__(self, num_layers: int):
        self.num_layers, self.events = num_layers, []

    def start(self, protein, device):
        self.events.append(("start", protein.name, str(device)))

    def add(self, layer, attention, hidden):
        self.events.append((layer, tuple(attention.shape), tuple(hidden.shape), attention.data_ptr()))


def test_every_reader_gets_every_protein_and_the_layers_it_reads_from_one_pass(small):
    counting = Counting(small)
    shallow, deep, none = Recorder(2), Recorder(5), Recorder(0)
    seconds = read_layers(counting, PROTEINS[:2], [shallow, deep, none])
    assert counting.calls == [(p.sequence, 5) for p in PROTEINS[:2]]  # one pass each, to the deepest reader's layer
    assert none.events == [("start", "a", "cpu"), ("start", "b", "cpu")]
    n, h, e = len(PROTEINS[0].sequence), 4, small.config.embed_dim
    assert deep.events[:6] == [("start", "a", "cpu")] + [
        (layer, (h, n + 2, n + 2), (n, e), deep.events[layer][3]) for layer in range(1, 6)]
    assert [e[0] for e in shallow.events] == ["start", 1, 2, "start", 1, 2]
    assert shallow.events[1][3] == deep.events[1][3]  # the same tensor, not a copy per reader
    assert seconds.forward > 0 and len(seconds.readers) == 3
    idle = Counting(small)
    read_layers(idle, PROTEINS, [Recorder(0)])
    assert idle.calls == []  # nothing to read: the model never runs


def test_the_analyses_need_only_the_protocol_and_one_pass_each(small):
    """A wrapper with nothing but config, device and iter_attention gives the Predictor's own numbers."""
    for run in (
        lambda m: attention_properties(m, PROTEINS, threshold=0.1).arrays(),
        lambda m: head_statistics(m, [p.sequence for p in PROTEINS]),
        lambda m: vars(head_scores(m, PROTEINS, threshold=0.1)),
        lambda m: vars(collect_pairs(m, PROTEINS, heads=[[1, 0], [4, 3]])),
        lambda m: layer_probes(m, PROTEINS, folds=3, contact_layers=[2]).summary(),
    ):
        counting = Counting(small)
        np.random.seed(0)  # the contact probes' liblinear fits draw from numpy's global RNG
        expected = run(small)
        np.random.seed(0)
        got = run(counting)
        assert len(counting.calls) == len(PROTEINS)
        assert_same(expected, got)
