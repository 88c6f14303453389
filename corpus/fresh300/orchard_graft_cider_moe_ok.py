# Tiny MoE language model: float pre-training, then distilled 3-bit weight
# quantization (the student's scales/biases are trained to match the teacher).
import copy
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

VOCAB = 64
DIM = 64
HIDDEN = 128
EXPERTS = 8
TOP_K = 2
SEQ = 16
BATCH = 8


def _gather_sort(x, indices):
    *_, M = indices.shape
    indices = indices.flatten()
    order = mx.argsort(indices)
    inv_order = mx.argsort(order)
    return x.flatten(0, -3)[order // M], indices[order], inv_order


def _scatter_unsort(x, inv_order, shape=None):
    x = x[inv_order]
    if shape is not None:
        x = mx.unflatten(x, 0, shape)
    return x


class QuantizedSwitchLinear(nn.Module):
    def __init__(self, input_dims, output_dims, num_experts, bias=True,
                 group_size=64, bits=4):
        super().__init__()
        scale = math.sqrt(1 / input_dims)
        self.weight, self.scales, self.biases = mx.quantize(
            mx.random.uniform(low=-scale, high=scale,
                              shape=(num_experts, output_dims, input_dims)),
            group_size=group_size, bits=bits,
        )
        if bias:
            self.bias = mx.zeros((num_experts, output_dims))
        self.group_size = group_size
        self.bits = bits
        self.freeze()

    def unfreeze(self, *args, **kwargs):
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)

    def __call__(self, x, indices, sorted_indices=False):
        x = mx.gather_qmm(
            x, self["weight"], self["scales"], self["biases"],
            rhs_indices=indices, transpose=True,
            group_size=self.group_size, bits=self.bits,
            sorted_indices=sorted_indices,
        )
        if "bias" in self:
            x = x + mx.expand_dims(self["bias"][indices], -2)
        return x


class SwitchLinear(nn.Module):
    def __init__(self, input_dims, output_dims, num_experts, bias=True):
        super().__init__()
        scale = math.sqrt(1 / input_dims)
        self.weight = mx.random.uniform(
            low=-scale, high=scale, shape=(num_experts, output_dims, input_dims)
        )
        if bias:
            self.bias = mx.zeros((num_experts, output_dims))

    def __call__(self, x, indices, sorted_indices=False):
        x = mx.gather_mm(
            x, self["weight"].swapaxes(-1, -2),
            rhs_indices=indices, sorted_indices=sorted_indices,
        )
        if "bias" in self:
            x = x + mx.expand_dims(self["bias"][indices], -2)
        return x

    def to_quantized(self, group_size=64, bits=4, mode="affine"):
        num_experts, output_dims, input_dims = self.weight.shape
        ql = QuantizedSwitchLinear(input_dims, output_dims, num_experts, False,
                                   group_size, bits)
        ql.weight, ql.scales, ql.biases = mx.quantize(self.weight, group_size, bits)
        if "bias" in self:
            ql.bias = self.bias
        return ql


class SwitchGLU(nn.Module):
    def __init__(
        self,
        input_dims: int,
        hidden_dims: int,
        num_experts: int,
        activation=nn.SiLU(),
        bias: bool = False,
    ):
        super().__init__()
        self.gate_proj = SwitchLinear(input_dims, hidden_dims, num_experts, bias=bias)
        self.up_proj = SwitchLinear(input_dims, hidden_dims, num_experts, bias=bias)
        self.down_proj = SwitchLinear(hidden_dims, input_dims, num_experts, bias=bias)
        self.activation = activation

    def __call__(self, x, indices) -> mx.array:
        x = mx.expand_dims(x, (-2, -3))
        do_sort = indices.size >= 64
        idx = indices
        inv_order = None
        if do_sort:
            x, idx, inv_order = _gather_sort(x, indices)
        x_up = self.up_proj(x, idx, sorted_indices=do_sort)
        x_gate = self.gate_proj(x, idx, sorted_indices=do_sort)
        x = self.down_proj(self.activation(x_gate) * x_up, idx, sorted_indices=do_sort)
        if do_sort:
            x = _scatter_unsort(x, inv_order, indices.shape)
        return x.squeeze(-2)


class SparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(DIM, EXPERTS, bias=False)
        self.switch_mlp = SwitchGLU(DIM, HIDDEN, EXPERTS)

    def __call__(self, x):
        gates = mx.softmax(self.gate(x), axis=-1, precise=True)
        k = TOP_K
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=k - 1, axis=-1)[..., :k])
        scores = mx.take_along_axis(gates, inds, axis=-1)
        scores = scores / scores.sum(axis=-1, keepdims=True)
        y = self.switch_mlp(x, inds)
        return (y * scores[..., None]).sum(axis=-2)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.RMSNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4, bias=False)
        self.ln2 = nn.RMSNorm(DIM)
        self.moe = SparseMoeBlock()

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.moe(self.ln2(x))


class TinyMoELM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Block(), Block()]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        L = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.embed(tokens) + self.pos(mx.arange(L))
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))


# Synthetic corpus: a sparse random Markov chain over VOCAB symbols.
trans_logits = mx.random.normal((VOCAB, VOCAB)) * 3.0


def sample_batch(n):
    tok = mx.random.randint(0, VOCAB, (n,))
    seq = [tok]
    for _ in range(SEQ):
        tok = mx.random.categorical(trans_logits[tok])
        seq.append(tok)
    return mx.stack(seq, axis=1)


def lm_loss(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


eval_batch = sample_batch(32)

# ---- stage 1: float pre-training ----
model = TinyMoELM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(model, lm_loss)
t0 = time.time()
for step in range(1, 151):
    loss, grads = loss_and_grad(model, sample_batch(BATCH))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(f"[pretrain] step {step:4d}  loss {loss.item():.4f}")
float_eval = lm_loss(model, eval_batch).item()
print(f"[pretrain] eval loss (float teacher) {float_eval:.4f}  ({time.time() - t0:.1f}s)")

# ---- stage 2: distilled weight quantization ----
model.freeze()
q_model = copy.deepcopy(model)
nn.quantize(q_model, group_size=32, bits=3)
q_model.freeze()


def unfreeze(_, m):
    if hasattr(m, "bits") and hasattr(m, "group_size"):
        m.unfreeze(keys=["scales", "biases"], recurse=False)


q_model.apply_to_modules(unfreeze)
n_train = sum(v.size for _, v in tree_flatten(q_model.trainable_parameters()))
print(f"[dwq] trainable quantization params: {n_train}")
naive_eval = lm_loss(q_model, eval_batch).item()
print(f"[dwq] eval loss right after 3-bit rounding {naive_eval:.4f}")

temperature = 0.5


def log_norm(x):
    x = x * (1 / temperature)
    return x - mx.logsumexp(x, axis=-1, keepdims=True)


def kl_loss(params, x, targets):
    q_model.update(params)
    logits = q_model(x).astype(mx.float32)
    return nn.losses.kl_div_loss(log_norm(logits), targets, reduction="mean")


params = tree_map(lambda p: p.astype(mx.float32), q_model.trainable_parameters())
q_opt = optim.Adam(learning_rate=3e-4)
kl_grad = mx.value_and_grad(kl_loss)
for step in range(1, 121):
    batch = sample_batch(BATCH)[:, :-1]
    targets = mx.stop_gradient(log_norm(model(batch)))
    kl, grads = kl_grad(params, batch, targets)
    params = q_opt.apply_gradients(grads, params)
    mx.eval(params, q_opt.state, kl)
    if step % 25 == 0:
        print(f"[dwq] step {step:4d}  kl {kl.item():.5f}")
q_model.update(params)
final_eval = lm_loss(q_model, eval_batch).item()
print(f"[dwq] eval loss: float {float_eval:.4f}  rounded {naive_eval:.4f}  distilled {final_eval:.4f}")
