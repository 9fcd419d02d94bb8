"""Long jobs from files to files: ``predict`` (FASTA -> contact maps, resumable),
``distributed`` (the same on Ray), ``finetune`` (masked-LM training -> checkpoints);
``runfolder`` (the run-folder contract every command that writes files follows: run record,
lock, resume, ``--overwrite``); ``provenance`` (model and sequence hashes, the package version)."""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__, submodules=["distributed", "finetune", "finetune_config", "predict", "provenance", "runfolder"])
