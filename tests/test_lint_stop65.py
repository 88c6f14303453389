"""Stop 65's lint rules, each on the spelling its corpus case had and on the ones it must
leave alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

TRAINING = """

import mlx.nn as nn


def fit(model, opt, data, loss_fn):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for x in data:
        loss, grads = grad_fn(model, x)
        opt.update(model, grads)
"""

EMBED = """
import mlx.core as mx

def embed(weight, ids, h, x):
    {line}
    return ids
"""


@pytest.mark.parametrize("line, expected", [
    ("ids = mx.max(ids, 0)", [5]),  # fresh189 moshi_scaled_embed_batch_max
    ("ids = mx.min(ids, 0.0)", [5]),
    ("ids = mx.maximum(ids, 0)", []),  # the clamp
    ("h = mx.max(h, 1)", []),  # a max-pool over the sequence
    ("ids = mx.max(ids, axis=0)", []),  # an axis named: a reduction meant
    ("x = mx.max(ids, 0)", []),  # a new name: a reduction read as one
])
def test_mlx203_a_reduction_over_axis_0_rebound_as_a_clamp(line: str, expected) -> None:
    assert fired(EMBED.format(line=line), "MLX203") == expected


LOSSES = """
import mlx.core as mx
import mlx.nn as nn

def compute_loss(x, logits):
    recon = mx.mean((x - logits) ** 2)
    if recon > 10:
        return recon, recon, 0.0, 0.0
    return recon + 1, recon, 1.0, {tail}

def helper(x):
    def inner():
        return 1, 2
    return x

def train(model, opt, data):
    grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())
    for x in data:
        {line}
        loss, grads = grad_fn(model, x)
        opt.update(model, grads)
"""


@pytest.mark.parametrize("tail, line, expected", [
    ("0.5", "recon, kl, div = compute_loss(x, x)", [19]),  # fresh191 selfies_cvae_unpack
    ("0.5", "[a, b, c, d, e] = compute_loss(x, x)", [19]),
    ("0.5", "_, recon, kl, div = compute_loss(x, x)", []),
    ("0.5", "first, *rest = compute_loss(x, x)", []),  # a starred name takes the rest
    ("0.5, 0.1", "recon, kl, div = compute_loss(x, x)", []),  # returns of two lengths
    ("0.5", "a, b = helper(x)", []),  # a nested function's return is not helper's
])
def test_mlx204_a_local_functions_tuple_unpacked_into_another_count(tail, line, expected):
    assert fired(LOSSES.format(tail=tail, line=line), "MLX204") == expected


PASS = """
import mlx.core as mx
import mlx.nn as nn

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def evaluate(model, batches):
    total = mx.array(0.0)
    for x, y in batches:
        {line}
    mx.eval(total)
    return total.item()
"""


@pytest.mark.parametrize("line, expected", [
    ("total = total + loss_fn(model, x, y) * x.shape[0]", [11]),  # fresh192 golfbyte_val_sum
    ("total += loss_fn(model, x, y)", [11]),
    ("total = total + loss_fn(model, x, y)\n        mx.eval(total)", []),  # per batch
    ("total += loss_fn(model, x, y).item()", []),  # a float summed
    ("total = total + x.sum()", []),  # no loss: left to the training-loop rules
])
def test_mlx205_a_loss_summed_over_a_pass_evaluated_only_after_it(line, expected):
    assert fired(PASS.format(line=line) + TRAINING, "MLX205") == expected


def test_mlx205_leaves_a_training_loop_to_mlx008() -> None:
    train = PASS.replace("        {line}", "        total = total + loss_fn(model, x, y)\n"
                         "        grads = nn.value_and_grad(model, loss_fn)(model, x, y)[1]\n"
                         "        opt.update(model, grads)")
    assert fired(train, "MLX205") == []


INDEXER = """
import mlx.core as mx
import mlx.nn as nn

class Indexer(nn.Module):
    def __call__(self, x, mask):
        scores = x @ x.transpose(0, 2, 1)
        scores = mx.where(mask, scores, -float("inf"))
        {tail}

def loss_fn(model, x, y):
    return mx.softmax(model(x), axis=-1).mean()

grad_fn = nn.value_and_grad(Indexer(), loss_fn)
"""


@pytest.mark.parametrize("tail, expected", [
    # fresh193 lightning_indexer_lora_ok: the top-k keys picked, no softmax reads the scores
    ("return mx.stop_gradient(mx.argpartition(scores, kth=-2, axis=-1))", []),
    ("return mx.softmax(scores, axis=-1)", [8]),
    ("return self.attend(scores)", [8]),  # handed to a helper in a module with a softmax
])
def test_mlx035_masked_scores_handed_to_an_mlx_op_that_is_no_softmax(tail, expected):
    assert fired(INDEXER.format(tail=tail), "MLX035") == expected


HEADS = """
import mlx.core as mx
import mlx.nn as nn

class LM(nn.Module):
    def __init__(self, dim, gemma{annotation} = {default}):
        super().__init__()
        self.gemma = gemma
        self.head = nn.Linear(dim, 8)

    def __call__(self, h, tied=False):
        if {test}:
            return h
        return self.head(h)
"""


@pytest.mark.parametrize("annotation, default, test, expected", [
    (": bool", "False", "self.gemma is not None", [12]),  # fresh193 shanty_charlm_headswitch
    ("", "True", "self.gemma is None", [12]),
    ("", "False", "tied is not None", [12]),  # a bool-defaulted parameter of the function
    (": bool", "False", "self.gemma", []),
    (": Optional[bool]", "False", "self.gemma is not None", []),  # None on purpose
    ("", "None", "self.gemma is not None", []),
])
def test_mlx206_a_bool_flag_tested_against_none(annotation, default, test, expected):
    code = HEADS.format(annotation=annotation, default=default, test=test)
    assert fired(code, "MLX206") == expected


FLOW = """
import mlx.core as mx

def step(t5_feat, clip_feat, x, guidance):
    return x

def mirror(a, b):
    return mirror(b, a) if a > b else a

def train(x, t5_feat, clip_feat, guidance):
    {line}
"""


@pytest.mark.parametrize("line, expected", [
    ("step(x, t5_feat, clip_feat, guidance)", [11]),  # fresh194 kestrel_flowlora_accum
    ("step(t5_feat, clip_feat, x, guidance)", []),
    ("step(x, x, x, x)", []),  # only x moved: one name, however often
    ("mirror(clip_feat, t5_feat)", []),
    ("mirror(b=1, a=2)", []),
])
def test_mlx207_three_names_each_in_another_parameters_slot(line, expected):
    assert fired(FLOW.format(line=line) + TRAINING, "MLX207") == expected


LAYERS_LOOP = """
import mlx.core as mx

def forward(layers, h, mask=None, first=None):
    for i, layer in enumerate(layers):
        sliding = i % 2 == 1
        {choice}
        h = layer(h, mask)
    return h
"""


@pytest.mark.parametrize("choice, expected", [
    # fresh193 gemlet_window_recall: layer 0's choice reused by every layer
    ("if mask is None and sliding:\n            mask = 1\n"
     "        elif mask is None:\n            mask = 2", [7]),
    ("if mask is None:\n            mask = 1", []),  # a lazy initialisation
    ("if first is None and sliding:\n            first = i", []),  # a latch
    ("local = mask\n        if mask is None and sliding:\n            local = 1\n"
     "        elif mask is None:\n            local = 2", []),  # chosen into another name
    ("mask = None\n        if mask is None and sliding:\n            mask = 1\n"
     "        elif mask is None:\n            mask = 2", []),  # reset each iteration
])
def test_mlx208_a_choice_under_is_none_written_into_the_tested_name(choice, expected):
    assert fired(LAYERS_LOOP.format(choice=choice), "MLX208") == expected


MASKED = """
import mlx.core as mx

def forward(h, cache, L):
    {setup}
    if mask is not None and L > 1:
        mask = mx.tril(mx.ones((L, L)))
    return h, mask
"""


@pytest.mark.parametrize("setup, expected", [
    ("mask = None\n    h = h * 2", [7]),  # fresh195 bigcode_motif: the mask never built
    ("mask = None", [6]),
    ("mask = cache", []),
    ("mask = None\n    if cache:\n        mask = cache", []),  # a branch between may bind it
    ("mask = None\n    mask = cache", []),
])
def test_mlx209_a_name_set_to_none_then_tested_is_not_none(setup, expected):
    assert fired(MASKED.format(setup=setup), "MLX209") == expected


PACKED = """
import mlx.core as mx

def block_mask(x, bounds, S):
    m = mx.ones({shape}, dtype=x.dtype)
    for start, end in bounds:
        {write}
    return m
"""


@pytest.mark.parametrize("shape, write, expected", [
    # fresh196 glyphsheet_cuseq: the first slice lands on the size-1 axis
    ("(1, S, S)", "m[start:end, start:end] = 0", [7]),
    ("(1, S, S)", "m[:, start:end, start:end] = 0", []),
    ("(S, S)", "m[start:end, start:end] = 0", []),
    ("(1, S, S)", "m[0] = 0", []),  # an index, not a slice: meant for that axis
])
def test_mlx210_a_slice_written_into_a_leading_size_1_axis(shape, write, expected):
    assert fired(PACKED.format(shape=shape, write=write), "MLX210") == expected


QUANTIZED = """
import mlx.core as mx
import mlx.nn as nn

def forward(self, h, h2):
    {first}
    {middle}
    l1, l2, e_btm, p = self.quantizer_btm(h2)
    return l1 + l2
"""


@pytest.mark.parametrize("first, middle, expected", [
    # fresh196 mosaic_vqvae2_toploss: the top quantizer's losses never added
    ("l1, l2, e_top, p = self.quantizer_top(h)", "h2 = h2 + e_top", [6]),
    ("l1, l2, e_top, p = self.quantizer_top(h)", "h2 = h2 + l1", []),  # read first
    ("l1, l2, e_top, p = self.quantizer_top(h)", "if p:\n        l1 = l1 * 2", []),
    ("l1 = 0.0", "pass", []),  # an initialisation
    ("l1, grads = nn.value_and_grad(self, f)(h)", "pass", []),  # beside its gradient
])
def test_mlx211_a_loss_rebound_before_it_is_read(first, middle, expected):
    code = QUANTIZED.format(first=first, middle=middle).replace("l1", "top_loss")
    assert fired(code, "MLX211") == expected


SAVING = """
import mlx.core as mx

def save_checkpoint(model, save_dir, name, step, timestamp, *, fmt="npz"):
    return save_dir

def log(*parts):
    return parts

def train(policy, path, ts):
    {line}
"""


@pytest.mark.parametrize("line, expected", [
    ('save_checkpoint(policy, path, "final", ts)', [11]),  # fresh197 cipherword_reinforce
    ('save_checkpoint(policy, path, "p", "final", ts, 1)', [11]),  # one too many
    ('save_checkpoint(policy, path, "p", "final", ts)', []),
    ('save_checkpoint(policy, path, "p", step="final", timestamp=ts, fmt="x")', []),
    ('save_checkpoint(*[policy, path, "p", "final", ts])', []),  # unpacked: not counted
    ("log(1, 2, 3, 4, 5, 6)", []),  # *args takes any number
])
def test_mlx212_a_local_call_missing_or_adding_arguments(line, expected):
    assert fired(SAVING.format(line=line) + TRAINING, "MLX212") == expected


CLIPPED = """
import mlx.core as mx

def grpo_loss(ratio, adv, epsilon=0.2, epsilon_high=None):
    {early}
    epsilon_high = epsilon_high if epsilon_high else epsilon
    clipped = mx.clip(ratio, 1 - epsilon, 1 + epsilon_high)
    return -mx.minimum(ratio * adv, clipped * adv).mean()
"""


@pytest.mark.parametrize("early, expected", [
    # fresh197 quill_grpo_lateclip: the clip above the line that replaces None
    ("early = mx.clip(ratio, 1 - epsilon, 1 + epsilon_high)", [5]),
    ("early = 1 + (epsilon_high if epsilon_high else 0.2)", []),  # tested where it is used
    ("early = mx.clip(ratio, 1 - epsilon, 1 + epsilon)", []),
    ("if epsilon_high:\n        early = 1 + epsilon_high", []),  # under a test of it
])
def test_mlx213_a_none_default_in_arithmetic_above_its_guard(early, expected):
    assert fired(CLIPPED.format(early=early), "MLX213") == expected


HALF = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

{guard}
model = nn.Linear(4, 4)
model.set_dtype(mx.float16)
opt = optim.Adam(learning_rate=1e-3)
grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())
for x in data:
    loss, grads = grad_fn(model, x)
    opt.update(model, grads)
"""


@pytest.mark.parametrize("guard, expected", [
    ("", [8]),
    # fresh198 lanternfish_gemma_fp16_ok: mlx-lm's Gemma residual clip to float16's range
    ("def clip(x):\n    return mx.clip(x, -mx.finfo(mx.float16).max, mx.finfo(mx.float16).max)",
     []),
])
def test_mlx025_stands_down_where_the_module_guards_float16s_range(guard, expected):
    assert fired(HALF.format(guard=guard), "MLX025") == expected


BUFFERS = """
import mlx.core as mx
import mlx.nn as nn
{torch}

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        {line}

model = GPT()
model.zero_grad()
"""


@pytest.mark.parametrize("torch, line, expected", [
    # fresh192 ledger_memo_bytegpt: register_buffer raised in the constructor
    ("", 'self.register_buffer("pos", mx.zeros((4, 4)))', [9, 12]),
    ("", "self.pos = mx.zeros((4, 4))", [12]),
    ("import torch", 'self.register_buffer("pos", mx.zeros((4, 4)))', []),  # torch's own
])
def test_mlx214_a_pytorch_module_method_on_an_mlx_module(torch, line, expected):
    assert fired(BUFFERS.format(torch=torch, line=line), "MLX214") == expected


def test_mlx214_leaves_a_method_the_module_defines() -> None:
    code = BUFFERS.format(torch="", line="self.pos = 1") + (
        "\nclass Net(nn.Module):\n    def zero_grad(self):\n        return None\n")
    assert fired(code, "MLX214") == []


AUDIT = """
import mlx.core as mx
import mlx.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

model = Net()
grad_fn = nn.value_and_grad(model, lambda m, x: m(x).sum())

def audit(x):
    copy = Net()
    copy.update(model.parameters())
    return copy(x)

for step in range(10000):
    loss, grads = grad_fn(model, x)
    {call}
"""


@pytest.mark.parametrize("call, expected", [
    ("audit(x)", [14]),
    # fresh199 spirometer_fev1_softsign_vjp_log: a copy built once every 300 steps
    ("if step % 300 == 0:\n        audit(x)", []),
])
def test_mlx178_a_build_once_every_n_passes_is_not_every_step(call, expected):
    assert fired(AUDIT.format(call=call), "MLX178") == expected


def test_mlx004_a_loop_over_one_pair_of_tree_flatten() -> None:
    """fresh200 specdraft_lora_accum (SpecLoRA 356b057): the first (path, array) pair."""
    code = ("import mlx.core as mx\nfrom mlx.utils import tree_flatten\n\n"
            "def norm(grads):\n"
            "    return sum(mx.sum(g ** 2).item() for g in tree_flatten(grads)[0]) ** 0.5\n")
    assert fired(code, "MLX004") == [5]
    assert fired(code.replace("tree_flatten(grads)[0]", "tree_flatten(grads)"), "MLX004") == [5]
    assert fired(code.replace("for g in tree_flatten(grads)[0]",
                              "for _, g in tree_flatten(grads)"), "MLX004") == []


@pytest.mark.parametrize("line, expected", [
    ("l2_loss += l2_loss", [5]),  # fresh200 rookery_selfplay_l2
    ("l2_loss = l2_loss + l2_loss", []),  # not read: the text test walks `+=` only
    ("l2_total += l2_loss", []),
    ("self.total += total", []),
])
def test_mlx215_a_name_added_to_itself(line: str, expected) -> None:
    code = f"import mlx.core as mx\n\nfor batch in data:\n    l2_loss = step(batch)\n    {line}\n"
    assert fired(code, "MLX215") == expected


DECODER = """
import mlx.core as mx
import mlx.nn as nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln2 = nn.RMSNorm(8)
        self.ln3 = nn.RMSNorm(8)
        self.cross = nn.MultiHeadAttention(8, 2)

    def __call__(self, x, memory):
        y = self.ln2(x)
        x = x + self.cross({query}, memory, memory)
        y = self.ln3(x)
        return x + y
"""


@pytest.mark.parametrize("query, expected", [
    ("x", [13]),  # fresh200 dunlin_t5_reverse: ln2's output dropped
    ("y", []),
])
def test_mlx216_a_layer_output_rebound_before_it_is_read(query: str, expected) -> None:
    assert fired(DECODER.format(query=query), "MLX216") == expected


def test_mlx212_an_unknown_keyword_and_a_name_shadowed_by_an_import() -> None:
    # fresh200 swinv2_window_bias: qkv_bias= against a def without it
    code = SAVING.format(line='save_checkpoint(policy, path, "p", "s", ts, qkv_bias=1)')
    assert fired(code + TRAINING, "MLX212") == [11]
    # mlx-vlm utils.py: a def read_audio beside `from ... import read as read_audio`
    shadowed = ("import mlx.core as mx\n\ndef read_audio(file):\n    return file\n\n"
                "def load(file):\n    from audio_io import read as read_audio\n"
                "    return read_audio(file, dtype='float32')\n")
    assert fired(shadowed + TRAINING, "MLX212") == []


def test_the_whole_file_rules_read_only_files_that_train() -> None:
    """MLX205, MLX207 and MLX212 read a whole module: they ask for a file that trains (a
    loop and a gradient or an optimizer update), so a package's model files are not parsed
    whole for them (lint over mlx-lm, mlx-lm-lora and mlx-vlm: 10.5 s with them on every
    file, against 7.1-7.3 s before them)."""
    assert fired(FLOW.format(line="step(x, t5_feat, clip_feat, guidance)"), "MLX207") == []
    assert fired(SAVING.format(line='save_checkpoint(policy, path, "final", ts)'),
                 "MLX212") == []
    assert fired(PASS.format(line="total += loss_fn(model, x, y)"), "MLX205") == []
