"""From fresh44's held-out half: MLX148 (an MLX array indexed with a comparison), MLX149
(`mx.arange` of a reduction's result), MLX150 (predictions tested for membership in the
batch's labels), and MLX001 reading an evaluation that runs only every K >= 1000 steps as
none: each on small programs, with the spellings that are right beside them."""

from __future__ import annotations

import pytest
from lint_snippets import fired

STATS = """
def stats(values):
    kl = mx.exp(values) - 1.0
    picked = kl[{index}]
    return picked
"""


@pytest.mark.parametrize("index, lines", [("kl > 0", [4]), ("mx.arange(2)", []), ("0", [])])
def test_mlx148_an_mlx_array_indexed_with_a_comparison(index: str, lines: list[int]):
    assert fired(STATS.format(index=index), "MLX148") == lines


def test_mlx148_leaves_numpy_arrays_alone():
    code = "def f(a):\n    b = np.asarray(a)\n    return b[b > 0]\n"
    assert fired(code, "MLX148") == []


MASK = """
def lens_to_mask(t, length=None):
    if length is None:
        length = {length}
    return mx.arange(length)[None, :] < t[:, None]
"""


@pytest.mark.parametrize("length, lines", [("t.max()", [5]), ("np.sum(t)", [5]),
                                           ("int(t.max())", []), ("t.max().item()", []),
                                           ("max(t)", [])])
def test_mlx149_arange_of_a_reduction(length: str, lines: list[int]):
    assert fired(MASK.format(length=length), "MLX149") == lines


ACCURACY = """
def accuracy_at_k(logits, targets, k):
    preds = np.array(mx.argsort(logits, axis=1)[:, -k:])
    {line}
"""


@pytest.mark.parametrize("line, lines", [
    ("return np.mean(np.any(np.isin(preds, np.array(targets)[:, None]), axis=1))", [4]),
    ("return np.mean(np.any(preds == np.array(targets)[:, None], axis=1))", []),
])
def test_mlx150_predictions_tested_for_membership_in_the_batch(line: str, lines: list[int]):
    assert fired(ACCURACY.format(line=line), "MLX150") == lines


def test_mlx150_membership_of_something_else_is_not_read():
    code = "vocab = np.arange(10)\nseen = np.isin(np.array([1, 2]), vocab)\n"
    assert fired(code, "MLX150") == []


RARE = """
PLOT_EVERY = {every}
model = nn.Linear(4, 4)
opt = optim.SGD(1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
for step in range(1, 3001):
    loss, grads = vg(model, mx.ones((2, 4)))
    opt.update(model, grads)
    if step % PLOT_EVERY == 0:
        mx.eval(model.parameters(), opt.state)
"""


@pytest.mark.parametrize("every, lines", [(10000, [8]), (1000, [8]), (10, [])])
def test_mlx001_an_evaluation_only_every_1000_steps_or_more_is_none(every: int, lines):
    assert fired(RARE.format(every=every), "MLX001") == lines


AUX_THROUGH_LAMBDA = """
def loss_fn(m, x):
    out = m(x)
    return (out ** 2).mean(), out
def main():
    model = nn.Linear(4, 4)
    opt = optim.Adam(1e-3)
    vg = nn.value_and_grad(model, lambda m, x: loss_fn(m, x))
    for epoch in range(3):
        recs = []
        for s in range(10):
            (loss, rec), grads = vg(model, mx.ones((2, 4)))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, rec)
            recs.append(rec.item())
"""


def test_a_gradient_function_given_a_lambda_is_read_without_error(capsys):
    """fresh45 vqvae_waveform_codebook: MLX105 read the lambda's body (one expression) as a
    list of statements; lint raised TypeError and watch wrote no report."""
    assert fired(AUX_THROUGH_LAMBDA, "MLX105") == []
    assert "internal error" not in capsys.readouterr().err


def test_a_rule_that_fails_is_contained_and_said_in_one_line(capsys, monkeypatch):
    from mlxprobe.lint import engine
    from mlxprobe.lint.rules.boolean_index import BooleanMaskIndex

    def broken(self, source):
        raise TypeError("boom")

    monkeypatch.setattr(BooleanMaskIndex, "check", broken)
    code = "import mlx.core as mx\nx = mx.ones(3)\nn = mx.arange(x.max())\ny = x[x > 0]\n"
    found = engine.lint_source(code, "prog.py")
    assert [f.rule for f in found] == ["MLX149"]  # the other rules still report
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mlxprobe lint: internal error in MLX148 on prog.py: TypeError: boom "
                   "(please report it)"]


def test_mlx150_one_query_s_ranking_against_its_relevant_set_is_a_retrieval_metric():
    """fresh45 poincare_tree_rsgd: `np.isin(np.argsort(d), list(nbrs))`, a mean average
    precision over one node's neighbours."""
    code = ("def mean_ap(d, nbrs):\n    order = np.argsort(d)\n"
            "    hit = np.isin(order, list(nbrs))\n    return hit.mean()\n")
    assert fired(code, "MLX150") == []


GATED = """
class Moe(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(4, 2)
        self.expert = nn.Linear(4, 4)
    def __call__(self, x):
        gates = mx.softmax(self.gate(x), axis=-1)
        inds = mx.stop_gradient(mx.argmax(gates, axis=-1))
        scores = mx.take_along_axis(gates, inds[:, None], axis=-1)
        if self.training:
            y = self.expert(x) * scores
        else:
            y = self.expert(x)
        return y
model = Moe()
loss, grads = nn.value_and_grad(model, lambda m, x: m(x).sum())(model, mx.ones((2, 4)))
"""


def test_mlx036_reads_both_branches_of_an_if_that_binds_the_result():
    """fresh45 moe_expert_buffer_rows_ok: the gate reaches the output through the training
    branch's `* scores`; the last binding in the text (the other branch) hid it."""
    assert fired(GATED, "MLX036") == []


@pytest.mark.parametrize("line, lines", [
    ("for param in model.parameters():\n    param.stop_gradient = True", [3]),  # PyTorch's
    ("mx.savez('ckpt.npz', *model.parameters())", [3]),
    ("model.freeze()", []),
    ("mx.savez('ckpt.npz', **dict(tree_flatten(model.parameters())))", []),
])
def test_mlx116_keys_given_an_attribute_or_unpacked_into_a_call(line: str, lines: list[int]):
    """fresh45 bert_freeze_stopgrad (AttributeError on a key string) and best_saver_savez
    (the arrays never saved)."""
    code = "model = nn.Linear(4, 4)\nmx.eval(model.parameters())\n" + line + "\n"
    assert fired(code, "MLX116") == lines


CNN = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3)
    def __call__(self, x):
        {lines}
        return self.conv1(x)
"""


@pytest.mark.parametrize("lines, found", [
    ("x = mx.transpose(x, (0, 3, 1, 2))", [8]),  # NHWC -> NCHW, PyTorch's layout
    ("x = x.transpose(0, 3, 1, 2)", [8]),
    ("x = mx.transpose(x, (0, 3, 1, 2))\n        x = mx.transpose(x, (0, 2, 3, 1))", []),
    ("x = x * 2.0", []),
])
def test_mlx151_channels_first_into_conv2d(lines: str, found: list[int]):
    """fresh46 stripes_convnet_channels_first (MLX's convolutions take channels last); the
    binding in effect at the call decides (mlx-vlm's flux2 VAE transposes back first)."""
    assert fired(CNN.format(lines=lines), "MLX151") == found


BLOCK = """
class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
    def __call__(self, x, mask=None):
        q, k, v = mx.split(self.qkv(x)[:, None], 3, axis=-1)
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)[:, 0]
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = Attention()
    def __call__(self, x, mask=None):
        return x + self.attn(x{passed})
"""


@pytest.mark.parametrize("passed, found", [("", [14]), (", mask=mask", []), (", mask", [])])
def test_mlx152_a_mask_taken_and_not_passed_to_attention(passed: str, found: list[int]):
    """fresh46 unset_attn_mask_lm: a causal LM whose block dropped its mask."""
    assert fired(BLOCK.format(passed=passed), "MLX152") == found
