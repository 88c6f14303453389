"""Stop 68's lint changes, on the spelling their corpus cases had and on the ones the rules
must still find.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

ROUNDTRIP = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 4)

    def __call__(self, x):
        return self.l1(x)


model = Net()
loss_and_grad = nn.value_and_grad(model, lambda m, x: mx.mean(m(x) ** 2))
for step in range(5000):
    loss, grads = loss_and_grad(model, mx.ones((2, 4)))
    if {test}:
        fresh = Net()
        fresh.load_weights("ckpt.safetensors")
        model = fresh
"""


@pytest.mark.parametrize("test, expected", [
    ("step == 1200", []),  # fresh222 coaster_loop_gforce_bf16_roundtrip: once in the run
    ("1200 == step", []),
    ("step % 300 == 0", []),  # once every N passes
    ("loss.item() > 1.0", [21]),  # any pass may build it
    ("True", [21]),
])
def test_a_model_rebuilt_once_in_the_run_is_no_per_step_draw(test, expected):
    assert fired(ROUNDTRIP.format(test=test), "MLX178") == expected


CHUNK = """
import mlx.core as mx
{torch}

def message(src_features, relation):
    x_re, x_im = src_features.{call}
    return x_re * relation + x_im
"""


@pytest.mark.parametrize("torch, call, expected", [
    ("", "chunk(2, dim=-1)", [6]),  # fresh221 ferry_rotate_nbf (mlx-graphs 4e6f125)
    ("", "sum(dim=-1)", []),  # MLX's own method: its keyword error is another matter
    ("", "chunk(2, axis=-1)", []),  # no dim=: a receiver of unknown type may have it
    ("import torch", "chunk(2, dim=-1)", []),  # torch tensors have chunk
])
def test_a_torch_method_given_dim_is_found_on_any_receiver(torch, call, expected):
    assert fired(CHUNK.format(torch=torch, call=call), "MLX196") == expected


ROWS = """
import csv
import io
import mlx.core as mx

rows = []
{loop}
    rows.append(({read}, r["prompt"]))
labels = mx.array([float(y) for y, _ in rows])
"""


@pytest.mark.parametrize("loop, read, expected", [
    ("for r in csv.DictReader(io.StringIO(text)):", 'bool(r["label"])', [8]),  # fresh222
    ("for i, r in enumerate(csv.reader(open(path))):", "bool(r[2])", [8]),
    ("reader = csv.DictReader(open(path))\nfor r in reader:", 'bool(r["label"])', [9]),
    ("for r in csv.DictReader(io.StringIO(text)):",
     'r["label"].strip().lower() in ("1", "true")', []),  # parsed: the fix
    ("for r in json_rows:", 'bool(r["label"])', []),  # JSON booleans are booleans
])
def test_a_csv_field_read_with_bool_is_found(loop, read, expected):
    assert fired(ROWS.format(loop=loop, read=read), "MLX225") == expected


def test_an_argparse_option_of_type_bool_is_found():
    code = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--mask-prompt", type=bool, default=False)
parser.add_argument("--steps", type=int, default=100)
"""
    assert fired(code, "MLX225") == [4]


INDEXER = """
import mlx.core as mx
import mlx.nn as nn


class Indexer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.wq = nn.Linear(dim, dim)

    def __call__(self, x):
        scores = self.wq(x).sum(axis=-1)
        return {ret}


class Sparse(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.indexer = Indexer(dim)

    def __call__(self, x):
        top = self.indexer(x)
        keep = mx.put_along_axis(mx.zeros(x.shape[:-1]), top, mx.array(1.0), axis=-1)
        return x * keep[..., None]


model = Sparse(8)
{freeze}
loss_and_grad = nn.value_and_grad(model, lambda m, x: m(x).sum())
"""


@pytest.mark.parametrize("ret, freeze, expected", [
    # fresh222 sparse_indexer_curriculum (mlx-lm PR 1452): the indexer's top-k scattered
    ("mx.argpartition(scores, kth=-2, axis=-1)[..., -2:]", "model.indexer.freeze()", [13]),
    ("mx.argpartition(scores, kth=-2, axis=-1)[..., -2:]", "", [13]),
    ("mx.stop_gradient(mx.argpartition(scores, kth=-2, axis=-1)[..., -2:])", "", []),
    ("scores", "", []),  # no arg-op
])
def test_indices_a_submodule_returns_are_followed_into_its_call(ret, freeze, expected):
    assert fired(INDEXER.format(ret=ret, freeze=freeze), "MLX059") == expected


@pytest.mark.parametrize("call, expected", [
    ("train_dpo(model=model, ref_model=model.freeze())", [4]),  # fresh224 tallgrass
    ("train_dpo(model, model.freeze())", [4]),
    ("train_dpo(model=model, ref_model=ref_model.freeze())", []),  # the fix
    ("train_dpo(model=self.model, teacher=self.model.freeze())", [4]),
])
def test_one_model_given_twice_once_frozen_is_found(call, expected):
    code = f"""
import mlx.nn as nn
model, ref_model = nn.Linear(2, 2), nn.Linear(2, 2)
{call}
"""
    assert fired(code, "MLX226") == expected


EXPORT = """
import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

saved = {{k: np.array(v) for k, v in tree_flatten(model.parameters())}}
{export}
"""


@pytest.mark.parametrize("export, expected", [
    # fresh225 kelp_longline_grade_resume_export: a bfloat16 copy written and dropped
    ("mx.save_safetensors(p, {k: v.astype(mx.bfloat16) for k, v in "
     "tree_flatten(model.parameters())})", []),
    ("model.set_dtype(mx.bfloat16)", [6]),  # the model itself becomes bfloat16
])
def test_a_bfloat16_copy_inside_a_save_makes_no_bfloat16_tree(export, expected):
    assert fired(EXPORT.format(export=export), "MLX119") == expected


LOADER = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def load_model():
    m = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))
    m.eval()
    return {returned}


{bound} = load_model()
opt = optim.AdamW(learning_rate=1e-3)
step = nn.value_and_grad(model, lambda m, x: m(x).sum())
for it in range(100):
    loss, grads = step(model, mx.ones((2, 4)))
    opt.update(model, grads)
{after}
"""


@pytest.mark.parametrize("returned, bound, after, expected", [
    ("m", "model", "", [9]),  # fresh210 wicker_router_evalmode: a loader like mlx_lm.load
    ("m, None", "model, tok", "", [9]),
    ("m", "model", "model.train()", []),  # the file switches back to training
    ("m", "other", "", []),  # the loaded model is not the one trained
])
def test_a_loader_that_returns_an_eval_mode_model_to_a_training_loop(returned, bound, after,
                                                                     expected):
    code = LOADER.format(returned=returned, bound=bound, after=after)
    assert fired(code, "MLX124") == expected


LORA_EMBED = """
import mlx.core as mx
import mlx.nn as nn


class LoRAEmbedding(nn.Module):
    def __init__(self, n, dims, r=8):
        super().__init__()
        self.embedding = nn.Embedding(n, dims)
        self.lora_a = mx.zeros((n, r))
        self.lora_b = mx.zeros((r, dims))
        self.scale = 2.0

    def __call__(self, x):
        y = self.embedding(x)
        z = self.lora_a[x] @ self.lora_b
        return {out}
"""


@pytest.mark.parametrize("out, expected", [
    ("y + (self.scale * z).astype(x.dtype)", [17]),  # fresh189 lora_embed_castdtype
    ("y + (self.scale * z).astype(y.dtype)", []),  # the fix
    ("y * (x != 0).astype(x.dtype)[..., None]", []),  # an integer mask on purpose
])
def test_a_float_value_cast_to_the_dtype_of_looked_up_ids_is_found(out, expected):
    assert fired(LORA_EMBED.format(out=out), "MLX227") == expected


NORMAL = """
import mlx.core as mx


class {head}:
    def __init__(self, loc, scale):
        self.loc = loc
        self.scale = scale

    def log_prob(self, value):
        return -((value - self.{read}) ** 2) / self.scale
"""


@pytest.mark.parametrize("head, read, expected", [
    ("Normal", "mean", [11]),  # fresh190 sawmill_kerf_normal_dist (mlx-distributions)
    ("Normal(object)", "mean", [11]),
    ("Normal", "loc", []),  # the attribute the class stores
    ("Normal(Base)", "mean", []),  # a base class may set it
    ("NormalMixin", "mean", []),  # a mixin reads what the class it joins sets
])
def test_a_read_of_an_attribute_nothing_sets_is_found(head, read, expected):
    assert fired(NORMAL.format(head=head, read=read), "MLX228") == expected


TREE = """
import mlx.core as mx
import mlx.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)

    def __call__(self, x):
        return self.head(self.trunk(x))


model = Net()
(loss, aux), grads = mx.value_and_grad(lambda p, x: (x.sum(), 0))(model.parameters(), 1)
norms = {{k: mx.sum(mx.square(g)) for k, g in {tree}.items()}}
"""


@pytest.mark.parametrize("tree, expected", [
    ("grads", [18]),  # fresh229 knightpolicy_l2dict: each item is a layer's dict
    ("model.parameters()", [18]),
    ("model.head.parameters()", []),  # one layer's tree: flat {weight, bias}
])
def test_a_nested_tree_fed_item_by_item_to_mlx_is_found(tree, expected):
    assert fired(TREE.format(tree=tree), "MLX153") == expected


def test_a_keyword_given_to_an_mlx_function_that_takes_none_is_found():
    """fresh230 tollgate_chime_grpo: `mx.eval(logits, stream=mx.gpu)`; mx.eval takes none."""
    code = """
def train(model, batches):
    for x in batches:
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x)
        mx.eval(loss, stream=mx.gpu)
        mx.eval(loss)
"""
    assert fired(code, "MLX141") == [5]


def test_a_pytorch_module_method_on_a_model_held_in_an_attribute_is_found():
    """fresh230 gambit_bestnet_copy: `self.best_model = ChessNet(...)`, then
    `self.best_model.load_state_dict(self.model.state_dict())`."""
    code = """
import mlx.nn as nn


class ChessNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 4)


class Trainer:
    def __init__(self):
        self.model = ChessNet()
        self.best_model = None

    def keep_best(self):
        self.best_model = ChessNet()
        self.best_model.load_state_dict(self.model.state_dict())
        self.notes.state_dict()
"""
    assert fired(code, "MLX214") == [18, 18]
