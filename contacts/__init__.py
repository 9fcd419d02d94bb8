"""Contacts and attention maps out of ESM protein language models."""

from . import metrics
from .alphabet import ALPHABET, Alphabet, InvalidSequenceError, SequenceTooLongError
from .checkpoints import CheckpointError, DownloadError, UnsafeCheckpointError
from .config import PRESETS, ModelConfig
from .model import ESM1b
from .predictor import MissingRegressionError, Predictor, load_model
from .structure import Structure, contact_map, load_structure

__version__ = "0.1.0"

__all__ = [
    "ALPHABET", "Alphabet", "CheckpointError", "DownloadError", "ESM1b", "InvalidSequenceError",
    "MissingRegressionError", "ModelConfig", "PRESETS", "Predictor", "SequenceTooLongError",
    "Structure", "UnsafeCheckpointError", "contact_map", "load_model", "load_structure", "metrics",
]
