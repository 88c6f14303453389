"""Osier basket workshop: predict the next weave stroke from the two before it.

Stroke logs are synthetic: a second-order chain over 16 stroke types with a
sparse random table.  The model is a hash-routed mixture of experts (Roller et
al. style "hash layers"): every position goes to the expert picked by a static
table lookup of its current stroke id, so there is no learned router at all.
The run is checkpointed half way (weights + optimizer state), rebuilt from the
files and resumed.  Validation loss is printed beside the unigram baseline and
beside the exact entropy floor of the generating chain.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
V, EMB, HID, N_EXP = 16, 16, 48, 4
B, T = 32, 16
STEPS, HALF = 420, 210

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---- generating chain ----
alpha = np.full(V, 0.08)
table = rng.dirichlet(alpha, size=(V, V)).astype(np.float64)  # p(next | prev, cur)


def sample_logs(n_seq, length):
    out = np.zeros((n_seq, length), dtype=np.int32)
    out[:, 0] = rng.integers(0, V, n_seq)
    out[:, 1] = rng.integers(0, V, n_seq)
    cum = np.cumsum(table, axis=-1)
    for t in range(2, length):
        u = rng.random(n_seq)[:, None]
        c = cum[out[:, t - 2], out[:, t - 1]]
        out[:, t] = np.minimum((u > c).sum(axis=1), V - 1)
    return out


train_logs = sample_logs(3000, T + 2)
val_logs = sample_logs(250, T + 2)
vp, vc, vn = val_logs[:, :-2], val_logs[:, 1:-1], val_logs[:, 2:]
floor = float(np.mean(-np.log(table[vp, vc, vn] + 1e-12)))
uni = np.bincount(train_logs[:, 2:].ravel(), minlength=V) / train_logs[:, 2:].size
unigram = float(np.mean(-np.log(uni[vn] + 1e-12)))

# static hash: a seeded permutation of stroke ids folded onto the experts
HASH = mx.array(np.random.default_rng(1234).permutation(V) % N_EXP)


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2 * EMB, HID)
        self.fc2 = nn.Linear(HID, HID)

    def __call__(self, h):
        return nn.silu(self.fc2(nn.silu(self.fc1(h))))


class HashMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, EMB)
        self.experts = [Expert() for _ in range(N_EXP)]
        self.head = nn.Linear(HID, V)

    def __call__(self, prev, cur):
        h = mx.concatenate([self.emb(prev), self.emb(cur)], axis=-1)
        route = HASH[cur]  # (B, T) expert id per position, static
        onehot = (route[..., None] == mx.arange(N_EXP)).astype(h.dtype)
        outs = mx.stack([e(h) for e in self.experts], axis=-2)  # (B, T, E, H)
        return self.head(mx.sum(outs * onehot[..., None], axis=-2))


def loss_fn(model, prev, cur, nxt):
    return nn.losses.cross_entropy(model(prev, cur), nxt, reduction="mean")


def val_loss(model):
    return loss_fn(model, mx.array(vp), mx.array(vc), mx.array(vn)).item()


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, STEPS - 40, 1e-4)], [40]
    )
    return optim.Adam(learning_rate=sched), sched


def run(model, opt, sched, first, last):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        rows = rng.integers(0, train_logs.shape[0], B)
        seq = train_logs[rows]
        lr_now = float(sched(opt.step))
        loss, grads = vg(model, mx.array(seq[:, :-2]), mx.array(seq[:, 1:-1]), mx.array(seq[:, 2:]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        # quiet after step 80: only a line every 105 steps
        if step in (1, 20, 40, 60, 80) or step % 105 == 0 or step == last:
            print(f"step {step:4d} lr {lr_now:.2e} train {loss.item():.4f} val {val_loss(model):.4f} "
                  f"| unigram {unigram:.4f} floor {floor:.4f}", flush=True)


t0 = time.time()
counts = np.bincount(np.array(HASH)[train_logs[:, 1:-1].ravel()], minlength=N_EXP)
print(f"strokes {V}, experts {N_EXP} (hash-routed, no router weights), positions per expert "
      + "/".join(str(c) for c in counts))
print(f"val baselines: unigram {unigram:.4f} nats, chain entropy floor {floor:.4f} nats")

model = HashMoE()
mx.eval(model.parameters())
opt, sched = make_opt()
run(model, opt, sched, 1, HALF)

# ---- checkpoint, rebuild, resume ----
d = tempfile.mkdtemp()
wpath, opath = os.path.join(d, "weights.safetensors"), os.path.join(d, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = val_loss(model)
print(f"checkpoint at step {HALF}: val {before:.4f}")

model = HashMoE()
model.load_weights(wpath)
opt, sched = make_opt()
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
after = val_loss(model)
print(f"resumed at step {int(opt.step.item()) + 1}: val {after:.4f} (same as before save: {abs(after - before) < 1e-6})")
run(model, opt, sched, HALF + 1, STEPS)

final = val_loss(model)
print(f"final val {final:.4f} | gap to floor {final - floor:.4f} | unigram {unigram:.4f} | {time.time() - t0:.1f}s")
