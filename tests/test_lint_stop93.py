"""Stop 93's lint changes, each on the shape of the corpus script that showed it:
- MLX280 finds a selection a `__getitem__` computes from its index and never reads again
  (fresh362 `sluice_ledger_polymer`, mlx-graphs 2353fab: `indices = indices[idx]`, then
  `dataset.graphs = [g for g in self.graphs]`), and leaves alone a selection that is used,
  one read in a later statement of the same branch, and an update inside a loop;
- MLX168 reads an attribute bound to a parameter annotated as an array (or None) as an
  array (fresh362 `quarry_lattice_molgraph`, mlx-graphs 895e538: `node_features:
  Optional[mx.array] = None`, then `... if self.node_features else None`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

DATASET = '''
class Dataset:
    def __init__(self, graphs):
        self.graphs = graphs

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, idx):
        indices = range(len(self))
        if isinstance(idx, int):
            return self.graphs[indices[idx]]
        if isinstance(idx, slice):
            indices = indices[idx]
        elif isinstance(idx, list):
            indices = [indices[i] for i in idx]
        else:
            raise IndexError(idx)
        subset = Dataset([])
        subset.graphs = BUILT
        return subset
'''


def test_a_selection_never_read_again_is_found() -> None:
    assert fired(DATASET.replace("BUILT", "[g for g in self.graphs]"), "MLX280") == [14]


def test_a_selection_that_builds_the_subset_is_not() -> None:
    assert not fired(DATASET.replace("BUILT", "[self.graphs[i] for i in indices]"), "MLX280")


@pytest.mark.parametrize("code", [
    # read later in the same branch
    '''
class Rows:
    def __getitem__(self, idx):
        rows = self.rows
        if idx is not None:
            rows = rows[idx]
            return rows
        return None
''',
    # an update inside a loop: a later iteration reads it
    '''
class Walk:
    def __getitem__(self, idx):
        node = self.root
        for step in range(3):
            node = node.children[idx]
        return self.root
''',
])
def test_a_selection_that_may_be_read_is_not(code: str) -> None:
    assert not fired(code, "MLX280")


GRAPH = '''
from typing import Optional

class GraphData:
    def __init__(self, node_features: Optional[mx.array] = None):
        self.node_features = node_features

    def __inc__(self, key):
        return len(self.node_features) if TEST else None
'''


def test_an_attribute_annotated_as_an_array_tested_for_truth_is_found() -> None:
    assert fired(GRAPH.replace("TEST", "self.node_features"), "MLX168") == [9]


def test_the_same_attribute_compared_with_none_is_not() -> None:
    assert not fired(GRAPH.replace("TEST", "self.node_features is not None"), "MLX168")
    plain = GRAPH.replace("Optional[mx.array]", "Optional[int]")
    assert not fired(plain.replace("TEST", "self.node_features"), "MLX168")
