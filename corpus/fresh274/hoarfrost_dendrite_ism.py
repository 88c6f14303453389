"""Snow-crystal lab: energy model of three standardised crystal measurements
(log arm length, side-branch angle offset, plate thickness) fitted with exact
Hyvarinen (implicit) score matching. The objective is

    J = E[ 0.5 * |grad_x E(x)|^2 - laplacian_x E(x) ]

which is negative at the optimum. For the lab's Gaussian measurement law the
best reachable value is -0.5 * tr(Sigma^-1); it is printed as `floor`.
Training stops half-way, writes a checkpoint, rebuilds everything from disk and
carries on.
"""
import os
import shutil
import tempfile
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

# --- measurement law of the crystal batch (made-up, correlated) ----------
A = np.array([[0.9, 0.0, 0.0],
              [0.5, 0.6, 0.0],
              [-0.3, 0.4, 0.45]], dtype=np.float64)
SIGMA = A @ A.T
MU = np.array([0.2, -0.1, 0.05])
PREC = np.linalg.inv(SIGMA)
FLOOR = -0.5 * float(np.trace(PREC))


def draw(n):
    z = rng.standard_normal((n, 3))
    return (MU + z @ A.T).astype(np.float32)


valid = draw(2000)
true_score_valid = -(valid - MU) @ PREC.T
# naive reference: treat the channels as independent unit Gaussians
naive_score_valid = -valid
naive_rmse = float(np.sqrt(np.mean(np.sum((naive_score_valid - true_score_valid) ** 2, axis=1))))


class CrystalEnergy(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(3, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


def energy_grad(model, x):
    return mx.grad(lambda y: model(y).sum())(x)


def laplacian(model, x):
    total = mx.zeros((x.shape[0],))
    for i in range(x.shape[1]):
        gi = mx.grad(lambda y, i=i: energy_grad(model, y)[:, i].sum())(x)
        total = total + gi[:, i]
    return total


def ism_loss(model, x):
    g = energy_grad(model, x)
    return mx.mean(0.5 * mx.sum(g * g, axis=1) - laplacian(model, x))


def score_rmse(model, x, target):
    s = -energy_grad(model, mx.array(x))
    return float(mx.sqrt(mx.mean(mx.sum((s - mx.array(target)) ** 2, axis=1))))


WARM, TOTAL, HALF, BATCH = 45, 360, 180, 96
PEAK = 2e-3


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)],
        [WARM])


def build():
    m = CrystalEnergy()
    mx.eval(m.parameters())
    o = optim.Adam(learning_rate=make_schedule())
    return m, o


def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, ism_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb):
        loss, grads = step_fn(model, xb)
        opt.update(model, grads)
        return loss

    run_sum, run_n = 0.0, 0
    for step in range(start, stop):
        xb = mx.array(draw(BATCH))
        loss = train_step(xb)
        mx.eval(model.parameters(), opt.state, loss)
        run_sum += loss.item()
        run_n += 1
        if (step + 1) % 30 == 0:
            lr = opt.learning_rate.item()
            vl = ism_loss(model, mx.array(valid[:512])).item()
            rm = score_rmse(model, valid, true_score_valid)
            print(f"step {step + 1:5d}  lr {lr:.2e}  train J {run_sum / run_n:+.4f}  "
                  f"valid J {vl:+.4f}  floor {FLOOR:+.4f}  score rmse {rm:.4f} "
                  f"(independent-unit reference {naive_rmse:.4f})")
            run_sum, run_n = 0.0, 0


t0 = time.time()
model, opt = build()
first = model.l1.weight[0, 0].item()
print(f"crystal energy model, floor of J for this law = {FLOOR:+.4f}")
run(model, opt, 0, HALF)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "energy.safetensors")
opath = os.path.join(ckdir, "adam.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = ism_loss(model, mx.array(valid[:512])).item()
print(f"checkpoint written at step {HALF}: valid J {before:+.4f}")

del model, opt
model, opt = build()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
after = ism_loss(model, mx.array(valid[:512])).item()
print(f"rebuilt from disk: valid J {after:+.4f}, optimizer step {int(opt.step.item())}")
run(model, opt, HALF, TOTAL)

final_rmse = score_rmse(model, valid, true_score_valid)
final_J = ism_loss(model, mx.array(valid)).item()
print(f"final: valid J {final_J:+.4f} vs floor {FLOOR:+.4f}; score rmse {final_rmse:.4f} "
      f"vs independent-unit reference {naive_rmse:.4f}")
print(f"first weight moved {first:+.4f} -> {model.l1.weight[0, 0].item():+.4f}")
shutil.rmtree(ckdir)
print(f"done in {time.time() - t0:.1f}s")
