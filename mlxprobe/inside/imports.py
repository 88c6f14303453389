"""An import hook: run a function on a module right after it is first imported.

Job: the agent must patch `mlx.core`, `mlx.optimizers` and mlx-lm's trainer when the program
imports them, not before (importing mlx ourselves would change the program's start-up) and
not later (the program may have bound `mx.eval` by then). A meta-path finder finds the real
spec with the other finders and wraps its loader so `after(module)` runs once the module has
executed. Written by hand: the standard library offers the pieces (importlib), not the hook.

Must not import: mlx, the watching side.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType

After = Callable[[ModuleType], None]


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, after: After) -> None:
        self._loader = loader
        self._after = after

    def create_module(self, spec):  # noqa: ANN001, ANN201 - importlib's protocol
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        try:
            self._after(module)
        except Exception as exc:  # noqa: BLE001 - never break the program's import
            sys.stderr.write(f"mlxprobe: could not watch {module.__name__}: {exc!r}\n")

    def __getattr__(self, name: str):  # noqa: ANN204 - e.g. get_resource_reader, is_package
        return getattr(self._loader, name)


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls `hooks[name](module)` once module `name` has been imported."""

    def __init__(self, hooks: dict[str, After]) -> None:
        self.hooks = dict(hooks)
        self._busy: set[str] = set()

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        after = self.hooks.get(name)
        if after is None or name in self._busy:
            return None
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None:
            return None
        del self.hooks[name]
        spec.loader = _Loader(spec.loader, after)
        return spec


def install(hooks: dict[str, After]) -> None:
    """Hook modules not imported yet; run the hook at once on those already imported."""
    pending = {}
    for name, after in hooks.items():
        if name in sys.modules:
            after(sys.modules[name])
        else:
            pending[name] = after
    sys.meta_path.insert(0, AfterImport(pending))
