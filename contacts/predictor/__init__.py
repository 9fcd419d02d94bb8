"""The loaded model users hold: contacts, attention maps, embeddings, fill-mask, variant scores.

``core`` holds :class:`Predictor` and :func:`load_model`; ``batching`` the token-budget
batches and windows; ``jacobian`` contacts from the categorical Jacobian of the masked LM
(:meth:`Predictor.jacobian_contacts`); ``variants`` the mutation parsing and scoring behind
:meth:`Predictor.score_variants`; ``protocol`` what :mod:`probes` needs of a
model (:class:`~contacts.predictor.protocol.AttentionModel`), which
:class:`Predictor` satisfies. Names are loaded on first use.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["batching", "core", "jacobian", "protocol", "variants"],
    submod_attrs={
        "core": ["MissingRegressionError", "Predictor", "auto_dtype", "build_model", "load_model", "token_batches",
                 "windows"],
        "jacobian": ["jacobian_contacts"],
        "protocol": ["AttentionConfig", "AttentionModel", "ContactModel"],
        "variants": ["Mutation", "MutationError", "mutation_problems", "mutation_scan", "parse_mutations", "score_variants"],
    },
)
