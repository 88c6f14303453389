"""Stop 63's lint changes, on small programs with the spellings beside them that must stay
silent. MLX134 follows an array a function is handed at every call site and a slice of a
NumPy permutation (fresh170 `mnist_vit_perm_slice`); MLX192 is new: a write into an index of
a temporary array (fresh170 `moe_scatter_copy`).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

BATCHES = """
def make_data(n):
    return mx.array(np.random.rand(n, 4)), mx.array(np.arange(n))


def train_epoch(model, images_full, labels_full, batch_size):
    perm = np.random.permutation(images_full.shape[0])
    for i in range(images_full.shape[0] // batch_size):
        batch_indices = {pick}
        xb = images_full[batch_indices]
        yb = labels_full[batch_indices]
        model(xb, yb)


def main():
    xtr, ytr = make_data(64)
    model = Model()
    {call}
"""


def test_a_numpy_slice_indexing_an_array_handed_at_every_call_fires() -> None:
    code = BATCHES.format(pick="perm[i * batch_size:(i + 1) * batch_size]",
                          call="train_epoch(model, xtr, ytr, 8)")
    assert fired(code, "MLX134") == [10, 11]


@pytest.mark.parametrize("pick, call", [
    ("mx.array(perm[i * batch_size:(i + 1) * batch_size])", "train_epoch(model, xtr, ytr, 8)"),
    ("perm[i]", "train_epoch(model, xtr, ytr, 8)"),  # a NumPy integer: MLX takes it
    # a caller hands NumPy arrays: the parameter is no MLX array
    ("perm[i * batch_size:(i + 1) * batch_size]",
     "train_epoch(model, xtr, ytr, 8)\n    train_epoch(model, np.zeros((4, 4)), np.zeros(4), 8)"),
    # the function is also handed on as a value: its callers are unknown
    ("perm[i * batch_size:(i + 1) * batch_size]",
     "train_epoch(model, xtr, ytr, 8)\n    run(train_epoch)"),
])
def test_an_mlx_index_or_an_unknown_caller_stays_silent(pick: str, call: str) -> None:
    assert fired(BATCHES.format(pick=pick, call=call), "MLX134") == []


SCATTER = """
def route(x, picks, experts):
    out = mx.zeros((x.shape[0], x.shape[1], len(experts)))
    kept = [mx.zeros(4) for _ in experts]
    for e, expert in enumerate(experts):
        idx = mx.array(np.where(picks == e)[0])
        {write}
    return out
"""


@pytest.mark.parametrize("write", [
    "out[:, :, e][idx] = expert(x[idx])",
    "out[:, :, e][idx] += expert(x[idx])",
    "out.reshape(-1, len(experts))[idx] = expert(x[idx])",
])
def test_a_write_into_an_index_of_a_temporary_array_fires(write: str) -> None:
    assert fired(SCATTER.format(write=write), "MLX192") == [7]


@pytest.mark.parametrize("write", [
    "out[idx, :, e] = expert(x[idx])",  # one index: the write lands
    "kept[e][0] = 1.0",  # a list's element is the array itself
    "out[:, :, e][idx] == expert(x[idx])",  # a comparison, no write
])
def test_a_write_into_the_array_itself_stays_silent(write: str) -> None:
    assert fired(SCATTER.format(write=write), "MLX192") == []
