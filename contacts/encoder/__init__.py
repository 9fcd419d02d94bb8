"""Sequence -> tokens -> ESM-1b / ESM-2 -> logits, representations and attention maps.

``alphabet`` (tokens), ``config`` (shapes and presets), ``model`` (the encoder, one
file), ``checkpoints`` (release ``.pt`` and HuggingFace files, read and written),
``hub`` (named releases: download and cache).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submodules=["alphabet", "checkpoints", "config", "hub", "model"])
