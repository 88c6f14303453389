"""Snow-groomer fuel burn (litres per hour) with a Gaussian head.

Four experts behind a router whose training-time assignment is balanced:
every batch is split so each expert receives exactly batch/4 shifts
(greedy best-score-first assignment, as in BASE layers); at evaluation the
router simply takes its best expert.  Loss is the Gaussian negative
log-likelihood of the standardised burn, so it goes below zero once the
predicted spread is tight.  Half way through, the run is checkpointed to
disk, everything is rebuilt from the files and training resumes.
Reports are printed as small YAML documents every 250 steps.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3430)
N_EXP = 4
BATCH = 128


def shifts(n):
    slope = rng.uniform(0, 40, n)          # degrees
    depth = rng.uniform(10, 150, n)        # cm new snow
    snow_t = rng.uniform(-20, 2, n)        # C
    blade = rng.uniform(0, 1, n)           # blade load fraction
    winch = rng.uniform(0, 4.5, n)         # tonnes of winch tension
    speed = rng.uniform(3, 16, n)          # km/h
    # work mode follows from the readings: flat prep / winch on steep / deep powder
    mode = np.where(slope > 25, 1, np.where(depth > 80, 2, 0))
    burn = np.where(
        mode == 0, 14 + 0.9 * speed + 9 * blade,
        np.where(mode == 1, 22 + 5.5 * winch + 0.25 * slope * (1 + blade),
                 18 + 0.12 * depth + 0.6 * speed * (1 - snow_t / 40)))
    noise = np.where(mode == 1, 2.5, np.where(mode == 2, 1.6, 0.7))
    burn = burn + rng.normal(0, 1, n) * noise
    x = np.stack([slope, depth, snow_t, blade, winch, speed], 1)
    return x.astype(np.float32), burn.astype(np.float32)


xtr, ytr = shifts(16000)
xva, yva = shifts(3000)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = float(ytr.mean()), float(ytr.std())
Xtr, Ytr = mx.array((xtr - mu) / sd), mx.array((ytr - ym) / ys)
Xva = mx.array((xva - mu) / sd)

# regime-blind reference: ordinary least squares on the raw readings
A = np.c_[xtr, np.ones(len(xtr))]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
ols_mae = float(np.abs(np.c_[xva, np.ones(len(xva))] @ coef - yva).mean())


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 40)
        self.l2 = nn.Linear(40, 2)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class BalancedMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(6, 2)
        self.router = nn.Linear(6, N_EXP)
        self.experts = [Expert() for _ in range(N_EXP)]

    def __call__(self, x, assign):
        scores = self.router(x)
        outs = mx.stack([e(x) for e in self.experts], axis=1)     # (B, E, 2)
        idx = mx.stop_gradient(assign)[:, None]
        s = mx.take_along_axis(scores, idx, axis=1)                # (B, 1)
        o = mx.take_along_axis(outs, idx[:, :, None], axis=1)[:, 0]
        return self.trunk(x) + mx.sigmoid(s) * o                   # mean, log-variance


def balanced_assignment(scores):
    """Greedy best-score-first assignment with equal capacity per expert."""
    s = np.array(scores)
    b, e = s.shape
    cap = np.full(e, b // e)
    taken = np.full(b, -1)
    for flat in np.argsort(-s, axis=None):
        t, j = divmod(int(flat), e)
        if taken[t] < 0 and cap[j] > 0:
            taken[t] = j
            cap[j] -= 1
    return mx.array(taken.astype(np.int32))


def nll(model, x, y, assign):
    out = model(x, assign)
    m, logv = out[:, 0], mx.clip(out[:, 1], -7.0, 5.0)
    return (0.5 * (logv + (y - m) ** 2 * mx.exp(-logv))).mean()


def evaluate(model):
    best = mx.argmax(model.router(Xva), axis=1)
    out = model(Xva, best)
    m = np.array(out[:, 0]) * ys + ym
    sigma = np.exp(0.5 * np.clip(np.array(out[:, 1]), -7, 5)) * ys
    share = np.bincount(np.array(best), minlength=N_EXP) / len(yva)
    return float(np.abs(m - yva).mean()), float(np.median(sigma)), share


def report(step, lr, run_nll, model, tag=None):
    mae, sig, share = evaluate(model)
    print("---")
    print(f"step: {step}")
    if tag:
        print(f"note: {tag}")
    print(f"lr: {lr:.6f}")
    print(f"train_nll_window: {run_nll:.4f}")
    print(f"val_mae_l_per_h: {mae:.3f}")
    print(f"ols_reference_mae_l_per_h: {ols_mae:.3f}")
    print(f"median_predicted_sigma_l_per_h: {sig:.3f}")
    print("eval_routing_share: [" + ", ".join(f"{v:.2f}" for v in share) + "]")


def make_opt():
    sched = optim.step_decay(2e-3, 0.5, 600)
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


mx.random.seed(3430)
model = BalancedMix()
opt = make_opt()
vg = nn.value_and_grad(model, nll)
print(f"# groomer shifts: {len(ytr)} train / {len(yva)} val, burn mean {ym:.1f} l/h")
report(0, 2e-3, float("nan"), model, "untrained")

t0 = time.time()
window = []
probe = mx.array(rng.integers(0, len(ytr), 512))
ckpt_dir = tempfile.mkdtemp()
TOTAL, SAVE_AT = 2000, 1000
step = 0
while step < TOTAL:
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    xb, yb = Xtr[idx], Ytr[idx]
    assign = balanced_assignment(model.router(xb))
    lr_now = float(opt.learning_rate)
    loss, grads = vg(model, xb, yb, assign)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    step += 1
    if step % 250 == 0:
        report(step, lr_now, float(np.mean(window[-250:])), model)
    if step == SAVE_AT:
        pa = balanced_assignment(model.router(Xtr[probe]))
        ref = nll(model, Xtr[probe], Ytr[probe], pa).item()
        model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                            dict(tree_flatten(opt.state)))
        del model, opt, vg
        model = BalancedMix()
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt = make_opt()
        opt.state = tree_unflatten(list(
            mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
        vg = nn.value_and_grad(model, nll)
        again = nll(model, Xtr[probe], Ytr[probe], pa).item()
        print("---")
        print(f"step: {step}")
        print(f"note: resumed from {ckpt_dir}")
        print(f"probe_nll_before_save: {ref:.6f}")
        print(f"probe_nll_after_load: {again:.6f}")
        print(f"optimizer_step_restored: {int(opt.step.item())}")

mae, sig, share = evaluate(model)
print("...")
shutil.rmtree(ckpt_dir)
print(f"# finished {TOTAL} steps in {time.time() - t0:.1f}s: val MAE {mae:.2f} l/h "
      f"(least squares {ols_mae:.2f}), median sigma {sig:.2f} l/h")
