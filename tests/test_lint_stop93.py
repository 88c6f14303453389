"""Stop 93's lint changes, each on the shape of the corpus script that showed it:
- MLX280 finds a selection a `__getitem__` computes from its index and never reads again
  (fresh362 `sluice_ledger_polymer`, mlx-graphs 2353fab: `indices = indices[idx]`, then
  `dataset.graphs = [g for g in self.graphs]`), and leaves alone a selection that is used,
  one read in a later statement of the same branch, and an update inside a loop;
- MLX168 reads an attribute bound to a parameter annotated as an array (or None) as an
  array (fresh362 `quarry_lattice_molgraph`, mlx-graphs 895e538: `node_features:
  Optional[mx.array] = None`, then `... if self.node_features else None`);
- MLX281 finds a loop over a parameter every call binds to an int (fresh363
  `orchard_crate_gridcells`, koogle/mlx-playground 40b680d: `for batch_idx, batch in
  batch_size:`);
- MLX124 leaves alone a model mlx-lm builds from a module whose layers run alike in both
  modes (fresh348 `correct_sailloft_tally_dwq_jsd`, correct: `llama.Model` tuned in eval
  mode), and the set of mlx-lm's other modules is checked against the installed mlx-lm;
- MLX031 leaves alone a program's own optimizer whose state is a flat dict display (fresh349
  `voicing_cents_dadapt`, correct: a D-Adaptation SGD saved with `mx.save_safetensors`);
- MLX282 finds an importance ratio written old over new (fresh21 `grpo_bandit_ratio_flip`,
  chuk-finetune 6e3fd0b: `mx.exp(logprobs_old - logprobs_current)`).

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


EPOCH = '''
def train_epoch(model, train_loader, optimizer, batch_size):
    for batch_idx, batch in ITERATED:
        pass

def main():
    batch_size = SIZE
    train_epoch(model, loader, opt, batch_size=batch_size)
'''


def test_a_parameter_every_call_binds_to_an_int_iterated_is_found() -> None:
    code = EPOCH.replace("ITERATED", "batch_size").replace("SIZE", "16")
    assert fired(code, "MLX281") == [3]


@pytest.mark.parametrize("iterated, size", [
    ("enumerate(train_loader)", "16"),  # the fix
    ("batch_size", "[16, 32]"),  # a list of sizes is iterable
    ("batch_size", "int(args.bs)"),  # a value the lint cannot read
])
def test_a_loop_over_what_may_be_a_collection_is_not(iterated: str, size: str) -> None:
    code = EPOCH.replace("ITERATED", iterated).replace("SIZE", size)
    assert not fired(code, "MLX281")


STUDENT = '''
import mlx.optimizers as optim
from mlx_lm.models import MODULE

student = MODULE.Model(args)
student.eval()
opt = optim.Adam(learning_rate=1e-3)
lg = nn.value_and_grad(student, loss_fn)
for step in range(10):
    loss, grads = lg(student, x, y)
    opt.update(student, grads)
'''


def test_an_mlx_lm_model_that_runs_alike_in_both_modes_may_be_tuned_in_eval_mode() -> None:
    assert not fired(STUDENT.replace("MODULE", "llama"), "MLX124")
    assert fired(STUDENT.replace("MODULE", "qwen3_next"), "MLX124") == [6]


def test_the_train_mode_models_are_mlx_lms() -> None:
    import re
    from pathlib import Path

    import mlx_lm

    from mlxprobe.lint.rules.eval_mode import TRAIN_MODE_MODELS
    folder = Path(mlx_lm.__file__).parent / "models"
    texts = {p.stem: p.read_text() for p in folder.glob("*.py")}
    found = {m for m, t in texts.items() if re.search(r"Dropout|self\.training|BatchNorm", t)}
    while grown := {m for m, t in texts.items() if m not in found and any(
            re.search(rf"from \.{f} import|from \. import .*\b{f}\b", t) for f in found)}:
        found |= grown
    assert found == TRAIN_MODE_MODELS


FLAT_STATE = '''
class DAdapt:
    def __init__(self, params):
        self.state = {"d": mx.array(1e-6), "k": mx.array(0)}

    def step(self, params, grads):
        return params

opt = DAdapt(model.parameters())
mx.save_safetensors("state.safetensors", opt.state)
'''


def test_a_programs_own_flat_state_may_be_saved_as_it_is() -> None:
    assert not fired(FLAT_STATE, "MLX031")
    nested = FLAT_STATE.replace('"k": mx.array(0)}', '"m": {"w": mx.array(0)}}')
    assert fired(nested, "MLX031") == [10]
    assert fired(FLAT_STATE.replace("DAdapt(model", "optim.Adam(model"), "MLX031") == [10]


def test_a_parameter_rebound_before_its_loop_is_not_a_count() -> None:
    code = EPOCH.replace("ITERATED", "batch_size").replace("SIZE", "16").replace(
        "    for batch_idx", "    if isinstance(batch_size, int):\n"
        "        batch_size = [batch_size]\n    for batch_idx")
    assert not fired(code, "MLX281")


@pytest.mark.parametrize("code, found", [
    ("ratios = mx.exp(logprobs_old - logprobs_current)", [1]),  # fresh21, chuk-finetune
    ("ratio = mx.exp(self.old_log_probs - new_log_probs)", [1]),
    ("ratios = mx.exp(logprobs_current - logprobs_old)", []),  # the fix
    ("kl = mx.exp(ref_logps - logps) - (ref_logps - logps) - 1", []),  # a KL estimator
    ("w = mx.exp(old_scale - new_scale)", []),  # no log-probabilities
])
def test_an_importance_ratio_written_old_over_new_is_found(code: str, found: list[int]) -> None:
    assert fired(code, "MLX282") == found
