"""The Predictor satisfies the protocols probes read a model through, member by member and signature by signature."""

from __future__ import annotations

import inspect

import pytest

from contacts import Predictor
from contacts.predictor.protocol import AttentionConfig, AttentionModel, ContactModel

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return Predictor.random("tiny", device="cpu")


def members(protocol) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_predictor_and_its_config_satisfy_the_protocols(tiny):
    assert isinstance(tiny, AttentionModel) and isinstance(tiny, ContactModel)
    assert isinstance(tiny.config, AttentionConfig)
    assert members(AttentionModel) == {"config", "device", "iter_attention"}
    assert members(ContactModel) == {"regression", "set_regression", "identity"}
    assert members(AttentionConfig) == {"name", "num_layers", "num_heads", "embed_dim", "max_residues"}


@pytest.mark.parametrize("protocol, method", [(AttentionModel, "iter_attention"), (ContactModel, "set_regression"),
                                              (ContactModel, "identity")])
def test_method_signatures_match(protocol, method):
    def parameters(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert parameters(getattr(Predictor, method)) == parameters(getattr(protocol, method))


def test_an_object_without_iter_attention_is_not_an_attention_model(tiny):
    class Shape:
        config, device = tiny.config, tiny.device

    assert not isinstance(Shape(), AttentionModel)
    assert not isinstance(object(), AttentionConfig)
