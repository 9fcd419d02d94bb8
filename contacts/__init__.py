"""Contacts and attention maps out of ESM protein language models.

The package follows the data, one layer per folder, each importing only those below it::

    cli/        the ``contacts`` command: one module per command, a client of the library
    runners/    FASTA -> files (resumable), the same on Ray; masked-LM fine-tuning
    viz/        3D views (py3Dmol) and figures (matplotlib)
    analysis/   labels from structures, precision@k, evaluation, coevolution baselines
    predictor/  the loaded model users hold: contacts, maps, embeddings, fill-mask, variants
    features.py attention maps -> symmetrized, APC-corrected features
    encoder/    sequence -> tokens -> ESM-1b / ESM-2 -> logits and attention; checkpoints
    io/         one module per file kind: FASTA, A3M, RR, structures, manifests, regression
    constants.py

Everything below is imported on first use (PEP 562), so ``import contacts`` costs
nothing and ``contacts.load_model(...).predict_contacts(...)`` never imports
biotite, py3Dmol, matplotlib or scikit-learn.
"""

import lazy_loader as lazy

from . import _moved

__version__ = "0.1.0"

_moved.install()

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["analysis", "cli", "constants", "encoder", "features", "io", "predictor", "runners", "viz",
                *(name.rpartition(".")[2] for name in _moved.MOVED)],
    submod_attrs={
        "encoder.alphabet": ["ALPHABET", "Alphabet", "InvalidSequenceError", "SequenceTooLongError"],
        "encoder.sequences": ["StopCodonRemoved", "check_sequences"],
        "encoder.config": ["PRESETS", "ModelConfig"],
        "encoder.hub": ["DownloadError"],
        "encoder.model": ["ESM1b", "ESMEncoder"],
        "io.safe_load": ["CheckpointError", "UnsafeCheckpointError"],
        "io.structures": ["Structure", "StructureError", "StructureWarning", "load_structure"],
        "io.text": ["FileFormatError"],
        "analysis.labels": ["contact_map"],
        "predictor": ["MissingRegressionError", "Predictor", "load_model"],
    },
)
