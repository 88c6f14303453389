# Lighthouse log shorthand: next-symbol model pretrained on the north-cove logs,
# then adapted to the south-cove keepers' shorthand with weight-decomposed
# low-rank adapters, folded into plain dense layers and written to disk.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

V, CTX = 10, 6
rng = np.random.default_rng(7)


def markov(seed, sharp):
    r = np.random.default_rng(seed)
    P = r.dirichlet(np.full(V, sharp), size=V)
    return P


P_north, P_south = markov(1, 0.3), markov(2, 0.3)


def entropy_rate(P):
    w, vecs = np.linalg.eig(P.T)
    pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    return float(-(pi[:, None] * P * np.log(P + 1e-12)).sum())


def sample(P, n, length, seed):
    r = np.random.default_rng(seed)
    seq = np.zeros((n, length), dtype=np.int32)
    seq[:, 0] = r.integers(0, V, n)
    cum = np.cumsum(P, axis=1)
    for t in range(1, length):
        u = r.random(n)[:, None]
        seq[:, t] = np.minimum((u > cum[seq[:, t - 1]]).sum(1), V - 1)
    return mx.array(seq)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 24)
        self.conv = nn.Conv1d(24, 32, kernel_size=3)
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, V)

    def __call__(self, tok):
        x = self.embed(tok)
        x = mx.pad(x, [(0, 0), (2, 0), (0, 0)])  # causal: only past symbols
        x = nn.gelu(self.conv(x))
        return self.fc2(nn.gelu(self.fc1(x)))


class DoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.base.freeze()
        self.scale = alpha / r
        self.lora_a = mx.random.normal((in_d, r)) * (1 / math.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))
        self.m = mx.linalg.norm(base.weight, axis=1)

    def merged_weight(self):
        W = self.base.weight + self.scale * (self.lora_b.T @ self.lora_a.T)
        return (self.m / mx.linalg.norm(W, axis=1))[:, None] * W

    def __call__(self, x):
        return x @ self.merged_weight().T + self.base.bias

    def fold(self):
        lin = nn.Linear(self.base.weight.shape[1], self.base.weight.shape[0])
        lin.weight = self.merged_weight()
        lin.bias = self.base.bias
        return lin


def nll(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def block(title, **kv):
    print(f"- {title}:")
    for k, v in kv.items():
        print(f"    {k}: {v:.4f}" if isinstance(v, float) else f"    {k}: {v}")


train_n, train_s = sample(P_north, 3000, 33, 10), sample(P_south, 400, 33, 11)
val_n, val_s = sample(P_north, 500, 33, 12), sample(P_south, 500, 33, 13)
H_n, H_s = entropy_rate(P_north), entropy_rate(P_south)
block("floors", north_nats=H_n, south_nats=H_s, uniform_nats=math.log(V))

mx.random.seed(0)
model = Net()
mx.eval(model.parameters())
t0 = time.time()

# stage 1: full fit on the north cove, quiet
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, nll)
for step in range(1, 301):
    idx = mx.array(rng.integers(0, train_n.shape[0], 64))
    loss, g = vg(model, train_n[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
base_val_s = nll(model, val_s).item()
base_val_n = nll(model, val_n).item()
block("stage1_north_done", steps=300, val_north=base_val_n, val_south=base_val_s)

# stage 2: weight-decomposed adapters on the dense layers, everything else frozen
model.freeze()
model.fc1 = DoRALinear(model.fc1)
model.fc2 = DoRALinear(model.fc2)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
block("stage2_setup", trainable=n_train, frozen_base_val_south=base_val_s)

sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 40), optim.cosine_decay(4e-3, 260, 2e-4)], [40]
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, nll)
for step in range(0, 300):
    lr = opt.learning_rate.item()
    idx = mx.array(rng.integers(0, train_s.shape[0], 32))
    loss, g = vg(model, train_s[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 50 == 0 or step == 299:
        vs, vn = nll(model, val_s).item(), nll(model, val_n).item()
        block(f"step_{step}", lr=lr, train_south=loss.item(), val_south=vs,
              excess_over_floor=vs - H_s, val_north=vn)

# fold adapters into plain Linear layers, save, reload into a fresh model
unfolded_logits = model(val_s[:, :-1])
model.fc1 = model.fc1.fold()
model.fc2 = model.fc2.fold()
folded_logits = model(val_s[:, :-1])
gap = mx.max(mx.abs(folded_logits - unfolded_logits)).item()
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "south_cove_merged.safetensors")
    model.save_weights(path)
    fresh = Net()
    fresh.load_weights(path)
    mx.eval(fresh.parameters())
    reloaded = nll(fresh, val_s).item()
    size_kb = os.path.getsize(path) / 1024
block("merged", fold_gap=f"{gap:.2e}", reloaded_val_south=reloaded,
      frozen_base_val_south=base_val_s, south_floor=H_s, file_kb=f"{size_kb:.1f}",
      seconds=round(time.time() - t0, 1))
