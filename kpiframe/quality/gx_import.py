"""Import Great Expectations without loading the libraries that only a few of its expectations use.

GX imports altair (charts) and scipy.stats at module level for three distribution expectations (KL
divergence and two Kolmogorov-Smirnov tests), and a few more libraries for one expectation or for
Data Docs. Loading them is over a third of GX's import: ~0.8 s of CPU and ~700 modules, paid by every
build with expectations. Those modules are therefore put in `sys.modules` as placeholders that load
the real module on first use: an expectation that needs scipy still gets it, when it runs, and code
that never touches them never pays for them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

# altair and scipy.stats: three distribution expectations; jsonschema: the JSON-schema expectation;
# mistune: the HTML of Data Docs, which kpiframe does not build
DEFERRED = ("altair", "scipy.stats", "jsonschema", "mistune")


def import_great_expectations() -> types.ModuleType:
    """`import great_expectations`, with DEFERRED loaded only when something uses them."""
    if "great_expectations" not in sys.modules:
        for name in DEFERRED:
            _defer(name)
    import great_expectations

    return great_expectations


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is read.

    Only the attributes every module has (`__name__`, `__spec__`, ...) are set here, so any other
    read, `__path__` for a submodule import included, comes to `__getattr__`, which imports the real
    module and answers from it from then on.
    """

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__package__ = spec.parent
        self._kf_lock = threading.RLock()  # re-entered if the real module's import reads it

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._kf_real(), attribute)

    def _kf_real(self) -> types.ModuleType:
        with self._kf_lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]  # so that the import below runs the real module
                try:
                    importlib.import_module(self.__name__)
                except BaseException:
                    sys.modules.setdefault(self.__name__, self)
                    raise
            return sys.modules[self.__name__]


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is not None:  # not installed: GX's own import reports it as it would anyway
        sys.modules[name] = _Deferred(name, spec)
