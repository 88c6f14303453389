# Tiny OLMo/Molmo-style decoder: pretrain on one token rule, then adapt with
# low-rank adapters (base frozen) to a second rule.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)

VOCAB, DIM, HEADS, LAYERS, SEQ, BATCH = 24, 32, 4, 2, 12, 16


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.RMSNorm(dim)
        self.att_proj = nn.Linear(dim, 3 * dim, bias=False)
        self.attn_out = nn.Linear(dim, dim, bias=False)
        self.ff_norm = nn.RMSNorm(dim)
        self.ff_proj = nn.Linear(dim, 4 * dim, bias=False)
        self.ff_out = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, x):
        B, L, D = x.shape
        h = self.attn_norm(x)
        q, k, v = mx.split(self.att_proj(h), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(D // self.heads), mask="causal"
        )
        x = x + self.attn_out(o.transpose(0, 2, 1, 3).reshape(B, L, D))
        g, u = mx.split(self.ff_proj(self.ff_norm(x)), 2, axis=-1)
        return x + self.ff_out(nn.silu(g) * u)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.ln_f = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, x):
        h = self.wte(x)
        for b in self.blocks:
            h = b(h)
        return self.lm_head(self.ln_f(h))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, scale=2.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def get_peft_model(model, rank=8, target_modules=None):
    model.freeze()
    if target_modules is None:
        target_modules = [
            "q_proj", "k_proj", "v_proj", "o_proj",
            "gate_proj", "up_proj", "down_proj",
        ]
    wrapped = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and name.split(".")[-1] in target_modules:
            wrapped.append((name, LoRALinear(mod, rank=rank)))
    if wrapped:
        model.update_modules(tree_unflatten(wrapped))
    return model, len(wrapped)


def batch(rule, n=BATCH):
    start = mx.random.randint(0, VOCAB, (n, 1))
    seq = [start]
    for _ in range(SEQ):
        seq.append(rule(seq[-1]) % VOCAB)
    s = mx.concatenate(seq, axis=1)
    return s[:, :-1], s[:, 1:]


rule_a = lambda t: t + 1
rule_b = lambda t: 2 * t + 5


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, rule):
    x, y = batch(rule, 256)
    return (model(x).argmax(-1) == y).astype(mx.float32).mean().item()


def n_params(tree):
    return sum(v.size for _, v in tree_flatten(tree))


model = TinyLM()
mx.eval(model.parameters())
print(f"base model params: {n_params(model.parameters())}")

# ---- stage 1: pretraining on rule A
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 101):
    x, y = batch(rule_a)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0:
        print(f"[pretrain] step {it:4d} loss {loss.item():.4f}")
print(f"[pretrain] acc rule A {accuracy(model, rule_a):.3f}  acc rule B {accuracy(model, rule_b):.3f}")

# ---- stage 2: adapter fine-tuning on rule B
model, n_wrapped = get_peft_model(model, rank=8)
n_train = n_params(model.trainable_parameters())
n_all = n_params(model.parameters())
print(f"adapters on {n_wrapped} modules | trainable {n_train} / {n_all}")

opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)
for it in range(1, 201):
    x, y = batch(rule_b)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 25 == 0:
        print(f"[adapt] step {it:4d} loss {loss.item():.4f}")

print(f"[adapt] final acc rule B {accuracy(model, rule_b):.3f}  (chance {1/VOCAB:.3f})")
print(f"done in {time.time() - t0:.1f}s")
