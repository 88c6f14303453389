"""What a trained model holds beyond what its parameter tree says, from metadata only.

Job: two facts for the census (`params.census`), read from the module objects' structure,
shapes and names, never from values (nothing is evaluated or read):
- `hidden`: attributes whose name starts with `_` that hold modules (`self._layers = [...]`),
  and attributes that hold modules in a tuple (`self.blocks = (Block(), Block())`). MLX's
  `Module.parameters()` leaves every `_` key out and walks only dicts and lists, so the
  weights of those modules are constants: never given to the optimizer, never trained (mlx
  issue 141: "private members are treated as constants"; mlx-swift issue 362 and fresh14
  `a14_tuple_blocks_skipped`: blocks in a tuple kept their init). A private array on a
  module (a buffer such as `_inv_freq`) is not counted: only arrays that a module holds
  under a public name, below a private name or a tuple.
- `adapters`: the LoRA adapter parameters (a path part starting with `lora` or holding
  `adapter`, as mlx-lm's `lora_a`/`lora_b` and PEFT's names), how many are frozen and how
  many train: a `model.freeze()` after the adapters were attached freezes them too
  (mlx-vlm issue 2178 and PR 2181: freeze first, then attach).

Must not import: mlx (it works on the objects handed to it), the watching side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_NAMES = 6
MAX_NODES = 200_000  # objects visited per model


def is_module(node: Any) -> bool:
    """An `nn.Module` (a dict with the module methods), told without importing mlx."""
    return isinstance(node, dict) and hasattr(node, "trainable_parameters")


def hidden(model: Any) -> dict[str, int]:
    """Private attribute path -> how many values the arrays of its modules hold."""
    found: dict[str, int] = {}
    for owner, size in _hidden_leaves(model, "", None, set()):
        found[owner] = found.get(owner, 0) + size
    return dict(list(found.items())[:MAX_NAMES])


def _hidden_leaves(node: Any, path: str, owner: str | None,
                   seen: set[int]) -> Iterator[tuple[str, int]]:
    """(the private attribute above, size) of each array a module holds under a public
    key below a private one; `owner` is that private attribute's path, once met."""
    if id(node) in seen or len(seen) > MAX_NODES:
        return
    seen.add(id(node))
    if is_module(node):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if owner is not None and not str(key).startswith("_") and _is_array(value):
                yield owner, int(value.size)
            else:
                hides = str(key).startswith("_") or isinstance(value, tuple)
                below = owner or (where if hides else None)
                yield from _hidden_leaves(value, where, below, seen)
    elif isinstance(node, (list, tuple, dict)):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield from _hidden_leaves(value, f"{path}.{key}", owner, seen)


def _is_array(value: Any) -> bool:
    return hasattr(value, "dtype") and hasattr(value, "size") and hasattr(value, "ndim")


def adapter_path(path: str) -> bool:
    """A LoRA adapter's parameter: `layers.0.fc1.lora_a`, `q_proj.adapter.down`."""
    return any(p.startswith("lora") or "adapter" in p for p in path.lower().split("."))


def adapters(leaves: list[tuple[str, Any]], trainable: set[int]) -> dict:
    """How many adapter parameters there are, how many train, and the frozen ones' names."""
    found = [(path, id(leaf) in trainable) for path, leaf in leaves if adapter_path(path)]
    frozen = [path for path, trains in found if not trains]
    return {"count": len(found), "trainable": len(found) - len(frozen),
            "frozen_names": frozen[:MAX_NAMES]}
