"""The plotting-backend hook: how twin objects draw themselves without twin drawing.

``twin/`` never imports drawing code. Objects with a ``plot()`` method (a scenario's
:class:`~twin.scenario.Evaluation`, the score's rank intervals and forecasts) hand
themselves to a plotting backend, found by name, as pandas finds its ``plotting.backend``:

1. ``options["backend"]`` names it (default ``"matplotlib"``);
2. the name is looked up among the entry points of the group
   :data:`ENTRY_POINT_GROUP`; the toolkit registers its own matplotlib pictures,
   ``layers.plots``, there under ``"matplotlib"`` (see ``pyproject.toml``);
3. a name that is no entry point is imported as a module.

A backend is a module with a function ``plot(obj, **kwargs)`` that returns what it drew
(for matplotlib, a Figure).

Examples
--------
>>> options["backend"]
'matplotlib'
>>> # ev.plot()                          # the default backend draws a Figure
>>> # options["backend"] = "mypackage.plots"; ev.plot()
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from types import ModuleType

from .errors import TwinError

__all__ = ["options", "backend", "plot", "ENTRY_POINT_GROUP", "PlottingBackendError"]

#: Entry-point group where plotting backends register (``name = "module"``).
ENTRY_POINT_GROUP = "aqmola_twin.plotting_backends"

#: ``backend``: the name of the plotting backend ``plot()`` uses.
options: dict[str, str] = {"backend": "matplotlib"}


class PlottingBackendError(TwinError, ImportError):
    """No plotting backend of that name, or one without a ``plot`` function."""


def backend(name: str | None = None) -> ModuleType:
    """The plotting backend module called ``name`` (default ``options["backend"]``)."""
    name = name or options["backend"]
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    try:
        module = found[0].load() if found else importlib.import_module(name)
    except ImportError as e:
        raise PlottingBackendError(
            f"plotting backend {name!r} cannot be loaded ({e}): the toolkit's own needs the "
            "viz extra, pip install 'aqmola-twin[viz]'; or set twin.plotting.options"
            "['backend'] to an importable module"
        ) from e
    if not callable(getattr(module, "plot", None)):
        raise PlottingBackendError(f"plotting backend {name!r} ({module.__name__}) has no "
                                   "plot(obj, **kwargs) function")
    return module


def plot(obj, **kwargs):
    """Draw ``obj`` with the current plotting backend."""
    return backend().plot(obj, **kwargs)
