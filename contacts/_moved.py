"""Old import paths of modules that moved into subpackages, kept working for users' code.

``from contacts.viewer import show_contacts`` and ``contacts.metrics.precision``
were the documented paths before the package was laid out by layers; they now
resolve to the modules' new homes (the same module objects, not copies). A path
that once held two kinds of thing (``contacts.structure``: file reading and
labels) resolves to a module that re-exports both homes' public names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

#: old module -> its new home(s)
MOVED: dict[str, tuple[str, ...]] = {
    "contacts.alphabet": ("contacts.encoder.alphabet",),
    "contacts.config": ("contacts.encoder.config",),
    "contacts.model": ("contacts.encoder.model",),
    "contacts.checkpoints": ("contacts.encoder.checkpoints",),
    "contacts.casp": ("contacts.io.rr",),
    "contacts.structure": ("contacts.io.structures", "contacts.analysis.labels"),
    "contacts.metrics": ("contacts.analysis.metrics",),
    "contacts.evaluation": ("contacts.analysis.evaluation",),
    "contacts.coevolution": ("contacts.analysis.coevolution",),
    "contacts.variants": ("contacts.predictor.variants",),
    "contacts.viewer": ("contacts.viz.viewer",),
    "contacts.plots": ("contacts.viz.plots",),
    "contacts.batch": ("contacts.runners.predict",),
    "contacts.distributed": ("contacts.runners.distributed",),
    "contacts.finetune": ("contacts.runners.finetune",),
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves the old names in :data:`MOVED` to the modules at their new homes."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        homes = [importlib.import_module(name) for name in MOVED[spec.name]]
        if len(homes) == 1:
            return homes[0]
        merged = types.ModuleType(spec.name, f"Re-exports {', '.join(MOVED[spec.name])}.")
        for home in homes:
            merged.__dict__.update({name: getattr(home, name) for name in home.__all__})
        merged.__all__ = sorted(n for home in homes for n in home.__all__)
        return merged

    def exec_module(self, module):
        pass


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
