# Drum-groove continuation: a GRU reads a 16th-note drum grid (kick, snare, closed hat,
# open hat) and predicts which voices hit on the next step.  Synthetic grooves: fixed
# backbeat skeleton + random ghost notes, so the loss has a noise floor it cannot beat.
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
VOICES, STEPS = 4, 48

def make_groove():
    g = np.zeros((STEPS, VOICES), np.float32)
    style = rng.integers(0, 3)
    for t in range(STEPS):
        s = t % 16
        if s in ((0, 8) if style == 0 else (0, 6, 10) if style == 1 else (0, 3, 8, 11)):
            g[t, 0] = 1
        if s in (4, 12):
            g[t, 1] = 1
        elif rng.random() < 0.08:
            g[t, 1] = 1            # ghost snare
        if s % 2 == 0:
            g[t, 2] = 1 if s != 14 else 0
        g[t, 3] = 1 if s == 14 else 0
        if rng.random() < 0.05:
            g[t, 2] = 1 - g[t, 2]  # humanised hat
    return g

def dataset(n):
    x = np.stack([make_groove() for _ in range(n)])
    return mx.array(x[:, :-1]), mx.array(x[:, 1:])

Xtr, Ytr = dataset(384)
Xva, Yva = dataset(96)

class GrooveGRU(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(VOICES + 16, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.out = nn.Linear(hidden, VOICES)

    def __call__(self, x):
        T = x.shape[1]
        pos = mx.array(np.eye(16, dtype=np.float32)[np.arange(T) % 16])
        pos = mx.broadcast_to(pos, (x.shape[0], T, 16))
        h = nn.relu(self.inp(mx.concatenate([x, pos], axis=-1)))
        return self.out(self.gru(h))

def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")

def step_f1(model, x, y):
    pred = (mx.sigmoid(model(x)) > 0.5).astype(mx.float32)
    tp = (pred * y).sum(); fp = (pred * (1 - y)).sum(); fn = ((1 - pred) * y).sum()
    return (2 * tp / (2 * tp + fp + fn)).item()

# baseline: per-voice hit rate, as a constant prediction
p = mx.clip(Ytr.mean(axis=(0, 1)), 1e-4, 1 - 1e-4)
base_bce = -(Yva * mx.log(p) + (1 - Yva) * mx.log(1 - p)).mean().item()
print(f"baseline (voice hit rates) val bce {base_bce:.4f}")

TOTAL, WARM, BS = 240, 40, 32
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM])

def build():
    m = GrooveGRU()
    o = optim.Adam(learning_rate=sched)
    return m, o

model, opt = build()
mx.eval(model.parameters())
ckpt_dir = tempfile.mkdtemp()

def run(model, opt, start, stop):
    lg = nn.value_and_grad(model, loss_fn)
    for it in range(start, stop):
        idx = mx.array(rng.integers(0, Xtr.shape[0], BS))
        loss, grads = lg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 25 == 0 or it == stop - 1:
            vl = loss_fn(model, Xva, Yva).item()
            print(f"it {it:3d} lr {opt.learning_rate.item():.2e} train {loss.item():.4f} "
                  f"val {vl:.4f} val_f1 {step_f1(model, Xva, Yva):.3f}")

run(model, opt, 0, 120)
model.save_weights(os.path.join(ckpt_dir, "groove.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print("checkpoint written at it 120; restarting from disk")

model, opt = build()
model.load_weights(os.path.join(ckpt_dir, "groove.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
print(f"resumed: optimizer step {opt.step.item()}, val {loss_fn(model, Xva, Yva).item():.4f}")
run(model, opt, 120, TOTAL)

final = loss_fn(model, Xva, Yva).item()
print(f"final val bce {final:.4f} vs baseline {base_bce:.4f}; val_f1 {step_f1(model, Xva, Yva):.3f}")
