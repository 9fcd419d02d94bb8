"""Contact probes: train, inspect and exchange the sparse contact regression of Rao et al.

``proteins`` (:class:`~probes.proteins.Protein`, the one record of a chain with its
labels, read from structures), ``probe`` (:class:`ContactProbe`, a scikit-learn
estimator), ``pairs`` (pair features from a model and proteins), ``selection`` (C by
cross-validation over proteins), ``heads`` (what each attention head sees as a
contact predictor), ``attention`` (what share of each head's attention falls on
structural and chemical properties, Vig et al.), ``attention_report`` (its
arrays, figures and markdown), ``probing`` (probing classifiers per layer),
``head_analysis`` (heads, attention and probing from one forward pass per protein),
``passes`` (that pass: every layer handed to every reader). A model is read only
through :class:`contacts.predictor.protocol.AttentionModel` (``config``,
``device``, ``iter_attention``). Names are loaded on first use.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["attention", "attention_report", "head_analysis", "heads", "pairs", "passes", "probing", "probe", "proteins",
                "selection"],
    submod_attrs={
        "attention": ["AttentionProperties", "attention_properties", "head_statistics"],
        "head_analysis": ["HeadAnalysis", "analyze_heads"],
        "probing": ["LayerProbes", "layer_probes"],
        "probe": ["ContactProbe", "ProbeFileError", "all_heads", "first_layers", "head_columns", "probe_of",
                  "select_features", "top_heads", "use_probe"],
        "proteins": ["Protein", "load_proteins"],
    },
)
