"""Sequence -> tokens -> a protein language model -> logits, representations and attention maps.

``sequences`` (the one input check every door uses, for every family), ``family`` (the
protocol every family meets), ``families`` (which family a file or name holds; the only
module that knows them all), one module per family: ``model``
with ``config`` and ``checkpoints`` (ESM-1b / ESM-2: the encoder, shapes, release and
HuggingFace files), ``bert`` (ProtBert, IgBert, AntiBERTy), ``roberta``, ``t5`` (the
T5 encoder of ProtT5); ``alphabet`` (tokens), ``hub`` (named releases: download and cache).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["alphabet", "bert", "checkpoints", "config", "families", "family", "hub", "model", "roberta", "sequences",
                "t5"],
)
