"""Old flat module paths (before 0.2) keep importing, with a DeprecationWarning, until 0.3.

``import visual_search.jobs`` gives the very module ``visual_search.indexing.jobs``
(so ``mock.patch("visual_search.jobs.x")`` patches the real thing) and warns
once, naming the new path. ``visual_search.search`` needs no alias: the
package re-exports the old module's public functions.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    **{f"visual_search.{name}": f"visual_search.indexing.{name}" for name in (
        "bulk", "encoder_switch", "health", "jobs", "outbox", "progress", "signal_handlers", "sync",
        "vector_index",
    )},
    **{f"visual_search.{name}": f"visual_search.search.{name}" for name in (
        "query_photos", "results", "throttling", "uploads",
    )},
    **{f"visual_search.{name}": f"visual_search.quality.{name}" for name in (
        "duplicates", "evaluation", "suggest", "training",
    )},
    **{f"visual_search.{name}": f"visual_search.web.{name}" for name in (
        "duplicates_admin", "suggestion_admin", "views",
    )},
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {self.new}; the old path goes in 0.3.", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:
        # create_module returned the already executed new module; importlib then stores it under the old name.
        pass


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname) or next(
            (MOVED[old] + fullname[len(old):] for old in MOVED if fullname.startswith(old + ".")), None
        )
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new)) if new else None


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``visual_search/__init__.py`` calls this)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())  # before PathFinder, which would load a second copy
