"""MLX121: flat keys nested back by hand into dicts, on small programs: a loop over
`key.split(".")` with `d[part] = {}` and one with `setdefault(part, {})` fire; tree_unflatten,
and a split loop that builds no dicts, stay clean."""

from __future__ import annotations

from lint_snippets import fired

BY_HAND = """
from mlx.utils import tree_flatten

def load_state(flat):
    state = {}
    for key, value in flat.items():
        current = state
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in current:
                current[part] = {}
            current = current[part]
        current[parts[-1]] = value
    return state

def load_other(flat):
    tree = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
"""


def test_mlx121_dotted_keys_nested_by_hand_fire():
    assert fired(BY_HAND, "MLX121") == [9, 21]


def test_mlx121_tree_unflatten_and_a_split_without_dicts_are_clean():
    right = """
from mlx.utils import tree_flatten, tree_unflatten

def load_state(flat):
    names = []
    for key in flat:
        for part in key.split("."):
            names.append(part)
    return tree_unflatten(list(flat.items())), names
"""
    assert fired(right, "MLX121") == []
