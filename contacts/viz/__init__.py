"""Contacts for the eye: 3D views (``viewer``, py3Dmol), figures (``plots``, matplotlib) and the linked
explorer (``explorer``: map, structure and heads in one page; ``contacts.viz.explore``).

``pairs`` chooses the pairs all of them show and names each by its label.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["attention", "explorer", "pairs", "plots", "viewer"],
    submod_attrs={"explorer": ["Explorer", "explore"]},
)
