"""Scoring contacts against structures: labels, precision@k, evaluation, coevolution baselines.

``labels`` (structure -> contact labels; sequences placed on structures),
``metrics`` (precision@L by separation range), ``heads`` (each attention head as a contact
predictor: P@L of its corrected map), ``evaluation`` (a model, prediction
files or a baseline against a set of structures), ``coevolution`` (MI-APC and
Potts baselines from alignments).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submodules=["annotations", "coevolution", "evaluation", "heads", "labels", "metrics"])
