"""Stop 63's lint changes, on small programs with the spellings beside them that must stay
silent. MLX134 follows an array a function is handed at every call site and a slice of a
NumPy permutation (fresh170 `mnist_vit_perm_slice`); MLX192 is new: a write into an index of
a temporary array (fresh170 `moe_scatter_copy`); MLX193 is new: a boolean mask added to
scores (fresh170 `softcap_markov_lm`); MLX037 reads mlx.nn's classes (fresh174
`sandglyph_cvae_bn`: `nn.BatchNorm2d`); MLX194 is new: a Conv2d's output flattened
channels-first (fresh174 `quadrant_vit_patchembed`); MLX195 is new: a path of trained weights a
function never reads (fresh170 `toolcall_ratchet_adapter`).

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


LAYERS = """
class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def __call__(self, x, mask):
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        scores = q @ k.swapaxes(-1, -2)
        {add}
        return mx.softmax(scores, axis=-1) @ v


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = Attention(d)

    def __call__(self, x, mask):
        return x + self.attn(x, mask)


class Model(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.blocks = [Block(d) for _ in range(2)]

    def __call__(self, x):
        idx = mx.arange(x.shape[1])
        mask = {mask}
        for b in self.blocks:
            x = b(x, mask)
        return x
"""


@pytest.mark.parametrize("mask", [
    "idx[:, None] >= idx[None, :]",
    "mx.tril(mx.ones((x.shape[1], x.shape[1]))).astype(mx.bool_)",
    "mx.logical_not(idx[:, None] < idx[None, :])",
])
def test_a_boolean_mask_handed_down_the_layers_and_added_fires(mask: str) -> None:
    code = LAYERS.format(add="scores = scores + mask", mask=mask)
    assert fired(code, "MLX193") == [10]


@pytest.mark.parametrize("add, mask", [
    ("scores = scores + mask", "nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])"),
    ("scores = scores + mask", "mx.where(idx[:, None] >= idx[None, :], 0.0, -1e9)"),
    ("scores = mx.where(mask, scores, -1e9)", "idx[:, None] >= idx[None, :]"),
    ("scores = mx.where(mask, scores, -1e9) if mask.dtype == mx.bool_ else scores + mask",
     "idx[:, None] >= idx[None, :]"),
])
def test_an_additive_mask_or_a_boolean_one_selected_stays_silent(add: str, mask: str) -> None:
    assert fired(LAYERS.format(add=add, mask=mask), "MLX193") == []


@pytest.mark.parametrize("layer, lines", [
    ("nn.BatchNorm2d(8)", [1]),  # PyTorch's spelling: mlx.nn has BatchNorm
    ("nn.ModuleList([nn.Linear(2, 2)])", [1]),
    ("nn.BatchNorm(8)", []),
    ("nn.Conv2d(3, 8, 3)", []),
    ("nn.functional.relu(x)", []),  # only mlx.nn's classes are read (the text test's reach)
])
def test_a_pytorch_layer_name_mlx_nn_lacks_fires(layer: str, lines: list[int]) -> None:
    assert fired(f"layer = {layer}\n", "MLX037") == lines


PATCHES = """
class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=4, stride=4)

    def __call__(self, x):
        x = self.proj(x)
        {tokens}
        return x
"""


@pytest.mark.parametrize("tokens", [
    "x = x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)",
    "x = x.flatten(2).transpose(0, 2, 1)",
    "x = mx.flatten(x, 2)",
])
def test_a_conv2d_output_flattened_channels_first_fires(tokens: str) -> None:
    assert fired(PATCHES.format(tokens=tokens), "MLX194") == [9]


@pytest.mark.parametrize("tokens", [
    "B, H, W, D = x.shape\n        x = x.reshape(B, H * W, D)",
    "x = x.reshape(x.shape[0], -1, x.shape[-1])",
    "x = x.flatten(1, 2)",
])
def test_a_conv2d_output_flattened_channels_last_stays_silent(tokens: str) -> None:
    assert fired(PATCHES.format(tokens=tokens), "MLX194") == []


@pytest.mark.parametrize("code, lines", [
    ("def score(base, adapter_path, data):\n    return evaluate(base, data)\n", [1]),
    ("def resume(model, checkpoint_file):\n    model.train()\n", [1]),
    ("def score(base, adapter_path, data):\n"
     "    return evaluate(base, data, adapter_path=adapter_path)\n", []),
    ("def score(base, data_path, data):\n    return evaluate(base, data)\n", []),  # no weights
    ("def load_adapter(adapter_path):\n    ...\n", []),  # a stub calls nothing
])
def test_a_weights_path_a_function_never_reads_fires(code: str, lines: list[int]) -> None:
    assert fired(code, "MLX195") == lines


def test_a_mask_bound_to_itself_is_followed_without_recursing_forever(capsys) -> None:
    """`mask = mask & keep` binds the name to itself (mlx-lm's cache.py, mlx-vlm's gemma4
    raised RecursionError in MLX193 before each binding step counted). Such a mask is not
    followed to its end (its own binding is not known to be boolean): silent, never a crash."""
    code = LAYERS.format(add="scores = scores + mask", mask="idx[:, None] >= idx[None, :]")
    code = code.replace("        for b in self.blocks:", "        mask = mask & (idx >= 0)\n"
                        "        for b in self.blocks:")
    assert fired(code, "MLX193") == []
    assert "internal error" not in capsys.readouterr().err
