"""Long jobs from files to files: ``predict`` (FASTA -> contact maps, resumable),
``distributed`` (the same on Ray), ``finetune`` (masked-LM training -> checkpoints);
``provenance`` (run records: model hashes, version, options, per-record sequence hashes)."""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submodules=["distributed", "finetune", "finetune_config", "predict", "provenance"])
