"""Contact probes: train, inspect and exchange the sparse contact regression of Rao et al."""

from .probe import (
    ContactProbe,
    ProbeFileError,
    all_heads,
    first_layers,
    head_columns,
    probe_of,
    select_features,
    top_heads,
    use_probe,
)

__all__ = [
    "ContactProbe",
    "ProbeFileError",
    "all_heads",
    "first_layers",
    "head_columns",
    "select_features",
    "top_heads",
    "probe_of",
    "use_probe",
]
