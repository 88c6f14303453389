"""MLX146: a model's weights gathered with a bare glob (`*.safetensors`, `*.npz`) of a folder
in a program that saves two kinds of weight file (`model.safetensors` and
`adapters.safetensors`): where both land in one folder, the glob picks up the adapters (or
optimizer state, or an older checkpoint) with the base weights, and loading them raises
(strict) or mixes them in.

Measured (mlx 0.32.4 CPU, failure corpus fresh42 `reload_glob_adapters`, mlx-examples PR
711, whose fix globbed `model*.safetensors`): after pre-training and an adapter stage that
saved `adapters.safetensors` beside `model.safetensors`, the reload of the base model read
both and `load_weights` raised `ValueError: Received 4 parameters not in model: l2.lora_a,
...`; with `model*.safetensors` it reloaded and the adapter applied (mse 0.0042).

Job: a string `*.safetensors` or `*.npz` (a whole pattern, no prefix) in a program that
loads weights (`mx.load`, `load_weights`) and itself saves at least two differently named
files with that extension (`save_weights`, `save_safetensors`, `savez` of a path holding
`"model.safetensors"`, another `"adapters.safetensors"`). A loader that only reads a
downloaded model's shards (`model-00001-of-00002.safetensors`) writes none and is left alone.
The finding is on the pattern.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import SourceFile
from .base import Rule

PATTERNS = {"*.safetensors": ".safetensors", "*.npz": ".npz"}
NAMED = re.compile(r"^[\w.-]+$")  # a plain file name, no pattern or folder


SAVES = frozenset({"save_weights", "save_safetensors", "savez", "savez_compressed",
                   "save_gguf"})


def saved_names(source: SourceFile, ending: str) -> set[str]:
    """Plain file names with `ending` written by a save call (`model.save_weights(...)`,
    `mx.save_safetensors(os.path.join(d, "adapters.safetensors"), ...)`)."""
    names = set()
    for call in source.of_type(ast.Call):
        if last_name(call.func) not in SAVES or not call.args:
            continue
        names |= {n.value for n in ast.walk(call.args[0]) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and n.value.endswith(ending)
                  and NAMED.match(n.value)}
    return names


class BareWeightGlob(Rule):
    """MLX146: `glob(os.path.join(ckpt, "*.safetensors"))` where adapters are saved too."""

    id = "MLX146"
    anchors = ("*.safetensors", "*.npz")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("*.safetensors" in text or "*.npz" in text) and (
            "mx.load" in text or "load_weights" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Constant):
            ending = PATTERNS.get(node.value) if isinstance(node.value, str) else None
            if ending is not None and len(saved_names(source, ending)) >= 2:
                yield self.hit(source, node)
