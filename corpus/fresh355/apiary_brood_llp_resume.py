"""Apiary brood survey: learn a per-frame brood-disease scorer when the lab only reports,
for each hive box, the FRACTION of its frames that tested positive (pooled swabs).
Learning from label proportions; checkpoint and resume half way."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(355)
MAXF = 20
NFEAT = 6


def make_boxes(n):
    """Each box holds 8..20 frames; 6 readings per frame (synthetic)."""
    x = np.zeros((n, MAXF, NFEAT), np.float32)
    m = np.zeros((n, MAXF), np.float32)
    y = np.zeros((n, MAXF), np.float32)
    for b in range(n):
        k = rng.integers(8, MAXF + 1)
        load = rng.beta(1.2, 3.0)  # box-level infection pressure
        f = rng.normal(size=(k, NFEAT)).astype(np.float32)
        # capped-cell ratio, sunken caps, odour index, brood temp dev, mite count, frame age
        logit = 1.6 * f[:, 1] + 1.2 * f[:, 2] - 0.8 * f[:, 0] + 0.6 * f[:, 4] * f[:, 5] + 3.0 * (load - 0.3)
        lab = (rng.random(k) < 1 / (1 + np.exp(-2.2 * logit))).astype(np.float32)
        x[b, :k], m[b, :k], y[b, :k] = f, 1.0, lab
    prop = (y * m).sum(1) / m.sum(1)
    return x, m, y, prop.astype(np.float32)


xtr, mtr, ytr, ptr = make_boxes(1500)
xte, mte, yte, pte = make_boxes(400)


class FrameScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NFEAT, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def box_fraction(model, x, m):
    q = mx.sigmoid(model(x)) * m
    return q.sum(1) / m.sum(1)


def proportion_loss(model, x, m, p):
    q = mx.clip(box_fraction(model, x, m), 1e-6, 1 - 1e-6)
    return -(p * mx.log(q) + (1 - p) * mx.log(1 - q)).mean()


def entropy_floor(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).mean())


def evaluate(model):
    s = np.array(model(mx.array(xte)))
    mk = mte > 0
    inst_acc = float(((s > 0) == (yte > 0.5))[mk].mean())
    q = np.array(box_fraction(model, mx.array(xte), mx.array(mte)))
    return inst_acc, float(np.abs(q - pte).mean())


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, 1140, 1e-4)], [60]
    )
    return optim.Adam(learning_rate=sched)


TOTAL, HALF, BS = 1200, 600, 32
ckdir = tempfile.mkdtemp()
floor_tr = entropy_floor(ptr)
maj = float(max((yte[mte > 0]).mean(), 1 - (yte[mte > 0]).mean()))
print(f"boxes train={len(ptr)} test={len(pte)}  frames/box 8..{MAXF}  mean positive fraction={ptr.mean():.3f}")
print(f"proportion-loss floor (mean entropy of the reported fractions) = {floor_tr:.4f}")
print(f"frame-level reference: majority-class accuracy = {maj:.3f} (frame labels never used for training)")
print("step,lr,prop_loss,excess_over_floor,frame_acc,fraction_mae,phase")

mx.random.seed(7)
model = FrameScorer()
opt = make_optimizer()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, proportion_loss)
ema = None
t0 = time.time()
step = 0
while step < TOTAL:
    if step == HALF:
        model.save_weights(os.path.join(ckdir, "scorer.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
        probe_x, probe_m, probe_p = mx.array(xtr[:64]), mx.array(mtr[:64]), mx.array(ptr[:64])
        before = proportion_loss(model, probe_x, probe_m, probe_p).item()
        print(f"# checkpoint written at step {step}; rebuilding scorer and optimizer from disk")
        model = FrameScorer()
        model.load_weights(os.path.join(ckdir, "scorer.safetensors"))
        opt = make_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam.safetensors")).items()))
        step_fn = nn.value_and_grad(model, proportion_loss)
        after = proportion_loss(model, probe_x, probe_m, probe_p).item()
        print(f"# resumed: probe loss before={before:.6f} after={after:.6f} diff={abs(after - before):.2e} "
              f"optimizer step={int(opt.state['step'].item())}")
    idx = rng.integers(0, len(ptr), BS)
    lr_now = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else float(opt.learning_rate)
    loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(mtr[idx]), mx.array(ptr[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    step += 1
    if step == 1 or step % 100 == 0:
        acc, mae = evaluate(model)
        phase = "warmup" if step <= 60 else ("before-ckpt" if step <= HALF else "resumed")
        print(f"{step},{lr_now:.2e},{ema:.4f},{ema - floor_tr:+.4f},{acc:.3f},{mae:.4f},{phase}")

acc, mae = evaluate(model)
print(f"final: frame accuracy {acc:.3f} vs majority {maj:.3f}; box fraction MAE {mae:.4f}; {time.time() - t0:.1f}s")
