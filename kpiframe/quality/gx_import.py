"""Import Great Expectations without loading the libraries that only a few of its expectations use.

GX imports altair (charts) and scipy.stats at module level for three distribution expectations (KL
divergence and two Kolmogorov-Smirnov tests), and a few more libraries for one expectation or for
Data Docs. Loading them is over a third of GX's import: ~0.8 s of CPU and ~700 modules, paid by every
build with expectations. Those modules are therefore put in `sys.modules` as placeholders that load
the real module on first use: an expectation that needs scipy still gets it, when it runs, and code
that never touches them never pays for them.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import types
from typing import Any

# altair and scipy.stats: three distribution expectations; jsonschema: the JSON-schema expectation;
# mistune: the HTML of Data Docs, which kpiframe does not build
DEFERRED = ("altair", "scipy.stats", "jsonschema", "mistune")
# GX imports pyspark (with Spark Connect's gRPC and protobuf) whenever it is installed, for its Spark data
# source, which kpiframe never uses: on Spark the checks run as kpiframe's own Spark SQL. Hidden while GX
# imports, GX takes it for not installed (its designed fallback); ~35 MB less in every build that checks.
HIDDEN = ("pyspark",)


def import_great_expectations() -> types.ModuleType:
    """`import great_expectations`, with DEFERRED loaded only when something uses them."""
    if "great_expectations" not in sys.modules:
        placed = [name for name in DEFERRED if _defer(name)]
        hidden = [name for name in HIDDEN if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
        # the import makes ~100,000 long-lived objects: collecting while it runs only walks them again
        # and again, and freezing them afterwards keeps later collections from walking them at all
        collecting = gc.isenabled()
        gc.disable()
        try:
            import great_expectations  # noqa: F401
        finally:
            if collecting:
                gc.enable()
            gc.freeze()
            # GX keeps the placeholders it took; the process imports the real modules as usual from now
            # on, so a later `import jsonschema.validators` makes one copy of its classes, not two
            for name in placed:
                if isinstance(sys.modules.get(name), _Deferred):
                    del sys.modules[name]
            for name in hidden:  # importable again for anything else in the process (kpiframe's Spark engine)
                if sys.modules.get(name, False) is None:
                    del sys.modules[name]
    import great_expectations

    return great_expectations


class _Deferred(types.ModuleType):
    """Stands for a module until one of its attributes is read.

    Only the attributes every module has (`__name__`, `__spec__`, ...) are set here, so any other
    read, `__path__` for a submodule import included, comes to `__getattr__`, which imports the real
    module (Python's import lock makes concurrent readers wait for it) and answers from it.
    """

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__package__ = spec.parent

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:  # still standing in: make way for the real module
            sys.modules.pop(self.__name__, None)
        try:
            real = importlib.import_module(self.__name__)
        except ImportError as exc:
            if attribute.startswith("__"):  # tools probing `__file__` and the like get "no such attribute"
                raise AttributeError(attribute) from exc
            raise
        return getattr(real, attribute)


def _defer(name: str) -> bool:
    """Put a placeholder for `name` in sys.modules, unless it is loaded already or not installed."""
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:  # not installed: GX's own import reports it as it would anyway
        return False
    sys.modules[name] = _Deferred(name, spec)
    return True
