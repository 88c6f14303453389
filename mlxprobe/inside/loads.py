"""Which of the given weights a `Module.load_weights` call put into the model, read inside
a watched program.

Job: wrap `nn.Module.load_weights` so that, after the program's own call returns, one record
says how many of the names it was given match the model's parameter names, how many match
nothing and how many parameters got no weight, with a few of each named. With
`strict=False` a checkpoint saved under another prefix (`encoder.layers.0.weight` loaded into
the encoder itself) loads nothing and says nothing: the model trains from its random init.

Only names are read: the given list's or dict's keys, a file's names from its index (a
`.npz` is a zip: its member names; a `.safetensors` file starts with a JSON header), and the
model's parameter paths (`tree_flatten` of `parameters()`, no array evaluated or copied).
Anything that fails is left unsaid; the program's call is never changed.

Must not import: the runner, the judging side.
"""

from __future__ import annotations

import functools
import json
import struct
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from ..protocol import WEIGHTS

SHOWN = 3


def file_names(path: str) -> list[str] | None:
    """The array names a weights file holds, from its index alone."""
    if path.endswith(".npz"):
        with zipfile.ZipFile(path) as archive:
            return [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
    if path.endswith(".safetensors"):
        with open(path, "rb") as handle:
            size = struct.unpack("<Q", handle.read(8))[0]
            header = json.loads(handle.read(size))
        return [k for k in header if k != "__metadata__"]
    return None


def given_names(weights: Any) -> list[str] | None:
    if isinstance(weights, (str, Path)):
        return file_names(str(weights))
    if isinstance(weights, dict):
        return [str(k) for k in weights]
    if isinstance(weights, (list, tuple)):
        return [str(pair[0]) for pair in weights if isinstance(pair, (list, tuple)) and pair]
    return None


def matching(model: Any, weights: Any, strict: bool) -> dict | None:
    from mlx.utils import tree_flatten

    given = given_names(weights)
    if given is None:
        return None
    own = {k for k, _ in tree_flatten(model.parameters())}
    unmatched = [n for n in given if n not in own]
    missing = sorted(own - set(given))
    return {"model": type(model).__name__, "strict": bool(strict), "given": len(given),
            "matched": len(given) - len(unmatched), "unmatched": len(unmatched),
            "unmatched_names": unmatched[:SHOWN], "parameters": len(own),
            "without_weight": len(missing), "without_weight_names": missing[:SHOWN]}


def patch_load_weights(probe: Any, module: ModuleType) -> None:
    """Wrap `Module.load_weights` (once) to emit a WEIGHTS record after each call."""
    base = getattr(module, "Module", None)
    original = getattr(base, "load_weights", None)
    if not callable(original) or getattr(original, "_mlxprobe", False):
        return

    @functools.wraps(original)
    def load_weights(self: Any, file_or_weights: Any, strict: bool = True) -> Any:
        result = original(self, file_or_weights, strict)
        try:
            found = matching(self, file_or_weights, strict)
        except Exception:  # names unreadable: say nothing
            found = None
        if found is not None:
            probe.emit(WEIGHTS, **found)
        return result
    load_weights._mlxprobe = True  # type: ignore[attr-defined]
    base.load_weights = load_weights  # type: ignore[union-attr]
