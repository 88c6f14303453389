"""Sommelier desk: match a taster's tasting sheet to the lab profile of the same wine.

Two towers, symmetric InfoNCE with a learnable logit scale, gradient accumulation,
warm-up from lr 0, and a checkpoint / resume half-way through (fresh objects reload
weights and optimizer state from disk and carry on).
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 7
N_TRAIN, N_VAL = 1600, 300
LATENT, SHEET, LAB = 6, 18, 12
MICRO, ACCUM = 32, 4
TOTAL_STEPS, SAVE_AT = 320, 160
WARMUP, PEAK_LR = 30, 2e-3

rng = np.random.default_rng(SEED)
SHEET_MIX = rng.normal(size=(LATENT, SHEET)) / math.sqrt(LATENT)
LAB_MIX = rng.normal(size=(LATENT, LAB)) / math.sqrt(LATENT)


def cellar(n):
    z = rng.normal(size=(n, LATENT))
    return z


def sheet_view(z):
    # tasters score on a 0..5 scale; personal bias and rounding noise
    s = np.tanh(z @ SHEET_MIX) * 2.5 + 2.5
    s += rng.normal(scale=0.45, size=s.shape) + rng.normal(scale=0.3, size=(len(z), 1))
    return np.round(s * 2) / 2


def lab_view(z):
    x = np.sin(z @ LAB_MIX) + 0.3 * (z @ LAB_MIX)
    return x + rng.normal(scale=0.15, size=x.shape)


z_train, z_val = cellar(N_TRAIN), cellar(N_VAL)
val_sheet = mx.array(((sheet_view(z_val) - 2.5) / 1.5).astype(np.float32))
val_lab = mx.array(lab_view(z_val).astype(np.float32))


class Tower(nn.Module):
    def __init__(self, d_in, d_out=24):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, d_out))

    def __call__(self, x):
        e = self.net(x)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.sheet = Tower(SHEET)
        self.lab = Tower(LAB)
        self.log_scale = mx.array(math.log(1 / 0.2))

    def logits(self, s, l):
        scale = mx.exp(mx.minimum(self.log_scale, math.log(100.0)))
        return scale * (self.sheet(s) @ self.lab(l).T)


def loss_fn(model, s, l):
    lg = model.logits(s, l)
    t = mx.arange(lg.shape[0])
    ce = 0.5 * (nn.losses.cross_entropy(lg, t) + nn.losses.cross_entropy(lg.T, t))
    return mx.mean(ce)


def schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    cos = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-5)
    return optim.join_schedules([warm, cos], [WARMUP])


def evaluate(model):
    lg = model.logits(val_sheet, val_lab)
    logp = lg - mx.logsumexp(lg, axis=1, keepdims=True)
    diag = mx.diagonal(logp)
    rank = mx.sum(lg > mx.diagonal(lg)[:, None], axis=1) + 1
    r1 = mx.mean(rank == 1) * 100
    mrr = mx.mean(1.0 / rank)
    return mx.mean(diag).item(), r1.item(), mrr.item()


def batch():
    idx = rng.choice(N_TRAIN, MICRO, replace=False)
    z = z_train[idx]
    s = ((sheet_view(z) - 2.5) / 1.5).astype(np.float32)
    return mx.array(s), mx.array(lab_view(z).astype(np.float32))


def save(path, model, opt, step):
    mx.save_safetensors(os.path.join(path, "model.safetensors"), dict(tree_flatten(model.parameters())))
    state = dict(tree_flatten(opt.state))
    state["__step__"] = mx.array(step)
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), state)


def load(path):
    model = Matcher()
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt = optim.Adam(learning_rate=schedule())
    st = mx.load(os.path.join(path, "opt.safetensors"))
    step = int(st.pop("__step__").item())
    opt.state = tree_unflatten(list(st.items()))
    return model, opt, step


def run_steps(model, opt, start, stop, t0):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(start + 1, stop + 1):
        acc, tot = None, 0.0
        for _ in range(ACCUM):
            s, l = batch()
            loss, g = vg(model, s, l)
            acc = g if acc is None else tree_map(mx.add, acc, g)
            tot += loss.item()
        acc = tree_map(lambda x: x / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        if step == 1:
            gn = math.sqrt(sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(acc)))
            print(f"# step 1 grad norm {gn:.4f}, lr used {opt.learning_rate.item():.2e}")
        if step % 20 == 0:
            logp, r1, mrr = evaluate(model)
            scale = math.exp(min(model.log_scale.item(), math.log(100.0)))
            print(f"{step},{tot / ACCUM:.4f},{math.log(MICRO):.4f},{logp:.4f},{r1:.2f},{100 / N_VAL:.2f},{mrr:.4f},{scale:.2f},{time.time() - t0:.1f}")


def main():
    mx.random.seed(SEED)
    t0 = time.time()
    model = Matcher()
    opt = optim.Adam(learning_rate=schedule())
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"# {n_par} trainable parameters, effective batch {MICRO * ACCUM} ({ACCUM} x {MICRO}), val {N_VAL} wines")
    logp0, r10, mrr0 = evaluate(model)
    print(f"# untrained: val_logp {logp0:.4f} (uniform {-math.log(N_VAL):.4f}), r@1 {r10:.2f}%, mrr {mrr0:.4f}")
    print("step,nce,nce_uniform,val_logp,val_r1_pct,chance_pct,val_mrr,logit_scale,secs")
    run_steps(model, opt, 0, SAVE_AT, t0)
    with tempfile.TemporaryDirectory() as d:
        save(d, model, opt, SAVE_AT)
        ref = evaluate(model)
        del model, opt
        model, opt, step = load(d)
        again = evaluate(model)
        print(f"# checkpoint at step {step}; reloaded val_logp {again[0]:.4f} (before save {ref[0]:.4f})")
    run_steps(model, opt, step, TOTAL_STEPS, t0)
    logp, r1, mrr = evaluate(model)
    print(f"# done: val_logp {logp:.4f}, r@1 {r1:.2f}% (chance {100 / N_VAL:.2f}%), mrr {mrr:.4f}, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
