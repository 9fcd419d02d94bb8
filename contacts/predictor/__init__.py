"""The loaded model users hold: contacts, attention maps, embeddings, fill-mask, variant scores.

``core`` holds :class:`Predictor` and :func:`load_model` (with batching and
windows); ``variants`` the mutation parsing and scoring behind
:meth:`Predictor.score_variants`. Names are loaded on first use.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["core", "variants"],
    submod_attrs={
        "core": ["MissingRegressionError", "Predictor", "build_model", "load_model", "token_batches", "windows"],
        "variants": ["Mutation", "MutationError", "mutation_scan", "parse_mutations", "score_variants"],
    },
)
