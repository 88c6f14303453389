"""Stonemason's tap test: name the stone of a quarried block from the ring of a hammer tap.

Each block gives a 32-bin log spectrum: two resonance peaks whose place depends on the stone
and on the block size, a dull thud floor, and workshop noise whose level is known per recording
(the difficulty score). Training follows a competence schedule: at step t only the easiest
c(t) share of the recordings (sorted by noise level) can be drawn, c(t) grows from 0.1 to 1.
Halfway through, the run is written to disk and picked up again by a fresh process-like state.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

STONES = ["granite", "marble", "limestone", "sandstone", "slate", "basalt"]
PEAKS = np.array([[7.0, 19.0], [9.0, 15.0], [5.0, 12.0], [4.0, 21.0], [11.0, 24.0], [8.0, 27.0]])
BINS = 32
N_TRAIN, N_VAL = 6000, 1500
STEPS, HALF = 800, 400
BATCH = 64
C0, T_COMPETENT = 0.10, 500
PEAK_LR, WARM = 2e-3, 80

rng = np.random.default_rng(11)


def tap_recordings(n):
    kind = rng.integers(0, len(STONES), n)
    size = rng.uniform(0.85, 1.15, n)                      # bigger blocks ring lower
    noise = rng.uniform(0.05, 1.3, n)                      # workshop noise, known per take
    f = np.arange(BINS)[None, :]
    centres = PEAKS[kind] / size[:, None]
    spec = np.zeros((n, BINS))
    for j, amp in enumerate((1.0, 0.6)):
        spec += amp * np.exp(-0.5 * ((f - centres[:, j:j + 1]) / 1.2) ** 2)
    spec += 0.25 * np.exp(-f / 6.0)                        # thud floor, same for all
    chip = rng.random(n) < 0.15                            # chipped arris adds a stray ring
    spec[chip] += 0.5 * np.exp(-0.5 * ((f - rng.uniform(3, 29, (n, 1))[chip]) / 0.8) ** 2)
    spec += noise[:, None] * rng.normal(0, 0.35, (n, BINS))
    return spec.astype(np.float32), kind.astype(np.int32), noise.astype(np.float32)


xtr, ytr, dtr = tap_recordings(N_TRAIN)
xva, yva, dva = tap_recordings(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
order = np.argsort(dtr)                                    # easiest first
hard_val = dva > np.quantile(dva, 0.75)

# reference points printed beside the model
majority = np.bincount(ytr).max() / len(ytr)
cent = np.stack([xtr[ytr == k].mean(0) for k in range(len(STONES))])
d2 = ((xva[:, None, :] - cent[None]) ** 2).sum(-1)
centroid_acc = float((d2.argmin(1) == yva).mean())


class TapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(BINS, 96)
        self.norm = nn.LayerNorm(96)
        self.mid = nn.Linear(96, 96)
        self.out = nn.Linear(96, len(STONES))

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM), optim.cosine_decay(PEAK_LR, STEPS - WARM, 1e-4)],
        [WARM],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def competence(t):
    return min(1.0, math.sqrt(t * (1 - C0 ** 2) / T_COMPETENT + C0 ** 2))


def evaluate(model):
    logits = model(mx.array(xva))
    pred = np.array(mx.argmax(logits, axis=1))
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
    return ce, float((pred == yva).mean()), float((pred[hard_val] == yva[hard_val]).mean())


def run_steps(model, opt, t_from, t_to, log):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for t in range(t_from, t_to):
        c = competence(t)
        pool = order[: max(BATCH, int(math.ceil(c * N_TRAIN)))]
        idx = rng.choice(pool, BATCH, replace=False)
        loss, grads = grad_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_now = opt.learning_rate.item()               # the rate this update used
        log.append(loss.item())
        if t in (0, 1) or (t + 1) % 80 == 0:
            ce, acc, hacc = evaluate(model)
            window = np.mean(log[-40:])
            print("{:>5d} {:>6.3f} {:>9.2e} {:>8.4f} {:>7.4f} {:>7.1f} {:>7.1f} {:>6.1f}".format(
                t + 1, c, lr_now, window, ce, 100 * acc, 100 * hacc, time.time() - T0))


mx.random.seed(3)
T0 = time.time()
print(f"# stones={len(STONES)} train={N_TRAIN} val={N_VAL} bins={BINS} steps={STEPS} batch={BATCH}")
print(f"# references on val: majority {100*majority:.1f}%  nearest-centroid {100*centroid_acc:.1f}%")

model = TapNet()
opt = make_optimizer()
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(xtr[:BATCH]), mx.array(ytr[:BATCH]))
leaves = tree_flatten(g0)
print(f"# grad leaves {len(leaves)}, all nonzero: {all(mx.abs(g).sum().item() > 0 for _, g in leaves)}")
print("# step  comp.        lr  batch_ce  val_ce  val_%   hard_%   secs")

log = []
run_steps(model, opt, 0, HALF, log)

# write the run to disk, then continue from a fresh model and optimizer
ckpt = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt, "weights.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
probe = model(mx.array(xva[:8]))

model = TapNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_optimizer()
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
drift = mx.abs(model(mx.array(xva[:8])) - probe).max().item()
print(f"# resumed at step {int(opt.state['step'].item())} from {os.path.basename(ckpt)}, logit drift {drift:.1e}")

run_steps(model, opt, HALF, STEPS, log)

ce, acc, hacc = evaluate(model)
print(f"# done: val {100*acc:.1f}% (hardest quarter {100*hacc:.1f}%) vs nearest-centroid "
      f"{100*centroid_acc:.1f}% and majority {100*majority:.1f}%; val_ce {ce:.4f}")
shutil.rmtree(ckpt)
