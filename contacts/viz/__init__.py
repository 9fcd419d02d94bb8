"""Contacts for the eye: 3D views (``viewer``, py3Dmol) and figures (``plots``, matplotlib).

``pairs`` chooses the pairs both show and names each by its label.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submodules=["attention", "pairs", "plots", "viewer"])
