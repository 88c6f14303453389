"""Dry-stone wall survey: 4-way section condition from field readings.

Classes: 0 sound, 1 bellied, 2 slumped, 3 collapsed.
Readings per section (synthetic): batter angle, through-stone spacing,
hearting fill, cope weight, frost days, sheep rubbing, slope, age, drain.

Training uses an inverse-square-root schedule with a linear ramp from
lr = 0 (step 0 makes no change), and the run is split in two sessions:
session 1 writes a checkpoint (weights + optimizer state) and session 2
rebuilds everything from that checkpoint and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TRAIN, N_VAL = 9000, 2000
FEATS = ["batter", "through_gap", "hearting", "cope_kg", "frost_days",
         "sheep_rub", "slope", "age", "drain"]
CLASSES = ["sound", "bellied", "slumped", "collapsed"]
PEAK_LR = 3e-3
RAMP = 150
TOTAL_STEPS = 1200
SPLIT_AT = 600
BATCH = 128


def make_sections(n, rng):
    batter = rng.normal(0.0, 1.0, n)           # steeper than spec -> +
    through_gap = rng.gamma(3.0, 0.35, n)      # metres between through stones
    hearting = rng.beta(5.0, 2.0, n)           # share of the core packed
    cope_kg = rng.normal(0.0, 1.0, n)
    frost_days = rng.poisson(35, n).astype(np.float64)
    sheep_rub = rng.exponential(1.0, n)
    slope = rng.normal(0.0, 1.0, n)
    age = rng.uniform(0, 250, n)               # years since built or rebuilt
    drain = rng.integers(0, 2, n).astype(np.float64)
    x = np.stack([batter, through_gap, hearting, cope_kg, frost_days,
                  sheep_rub, slope, age, drain], axis=1)
    # made-up deterioration score and a second 'mode' axis (belly vs slump)
    score = (0.9 * batter + 1.1 * (through_gap - 1.0) - 3.0 * (hearting - 0.7)
             - 0.5 * cope_kg + 0.03 * (frost_days - 35) + 0.4 * sheep_rub
             + 0.6 * np.abs(slope) + 0.006 * (age - 125) - 0.7 * drain
             + rng.logistic(0, 0.35, n))
    mode = 1.2 * slope - 0.8 * batter + 0.5 * rng.normal(size=n)
    y = np.zeros(n, dtype=np.int64)
    y[(score > 0.3) & (mode <= 0)] = 1
    y[(score > 0.3) & (mode > 0)] = 2
    y[score > 2.0] = 3
    return x.astype(np.float32), y


class SurveyNet(nn.Module):
    def __init__(self, d_in, width=96, n_cls=4):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm1 = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.norm1(self.inp(x)))
        h = h + nn.gelu(self.norm2(self.mid(h)))
        return self.out(h)


def rsqrt_with_ramp(peak, ramp):
    def schedule(step):
        s = mx.array(step).astype(mx.float32)
        up = s / ramp
        down = mx.rsqrt(mx.maximum(s, 1.0) / ramp)
        return peak * mx.minimum(up, down)
    return schedule


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def macro_f1(pred, true, k):
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        denom = 2 * tp + fp + fn
        f1s.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1s))


def evaluate(model, xv, yv_np):
    logits = model(xv)
    loss = nn.losses.cross_entropy(logits, mx.array(yv_np), reduction="mean")
    pred = np.array(mx.argmax(logits, axis=1))
    acc = float(np.mean(pred == yv_np))
    return float(loss), acc, macro_f1(pred, yv_np, len(CLASSES))


def build(d_in):
    model = SurveyNet(d_in)
    opt = optim.Adam(learning_rate=rsqrt_with_ramp(PEAK_LR, RAMP))
    return model, opt


def run_session(model, opt, first, last, data, rng, log_every=100):
    xt, yt, xv, yv_np = data
    step_fn = nn.value_and_grad(model, loss_fn)
    n = xt.shape[0]
    perm, cur = rng.permutation(n), 0
    window = []
    for step in range(first, last):
        if cur + BATCH > n:
            perm, cur = rng.permutation(n), 0
        idx = mx.array(perm[cur:cur + BATCH])
        cur += BATCH
        loss, grads = step_fn(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step == first:
            print(f"  first step of session: step={step}  "
                  f"lr={float(opt.learning_rate):.3e}  "
                  f"loss={float(loss):.4f}")
        if (step + 1) % log_every == 0:
            vl, acc, f1 = evaluate(model, xv, yv_np)
            print(f"  step {step + 1:5d}  lr {float(opt.learning_rate):.3e}  "
                  f"train_ce {np.mean(window):.4f}  val_ce {vl:.4f}  "
                  f"acc {acc * 100:5.1f}%  macroF1 {f1:.3f}")
            window = []


def save_ckpt(folder, model, opt):
    model.save_weights(os.path.join(folder, "weights.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt_state.safetensors"),
                        dict(tree_flatten(opt.state)))


def load_ckpt(folder, model, opt):
    model.load_weights(os.path.join(folder, "weights.safetensors"))
    flat = mx.load(os.path.join(folder, "opt_state.safetensors"))
    opt.state = tree_unflatten(list(flat.items()))
    mx.eval(model.parameters(), opt.state)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x_tr, y_tr = make_sections(N_TRAIN, rng)
    x_va, y_va = make_sections(N_VAL, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    xt = mx.array((x_tr - mu) / sd)
    xv = mx.array((x_va - mu) / sd)
    yt = mx.array(y_tr)
    data = (xt, yt, xv, y_va)

    counts = np.bincount(y_tr, minlength=4)
    print("class shares (train): " + ", ".join(
        f"{c} {k / len(y_tr) * 100:.1f}%" for c, k in zip(CLASSES, counts)))
    majority = int(np.argmax(counts))
    base_acc = float(np.mean(y_va == majority))
    base_f1 = macro_f1(np.full_like(y_va, majority), y_va, 4)
    prior = counts / counts.sum()
    base_ce = float(-np.mean(np.log(prior[y_va])))
    print(f"reference (always '{CLASSES[majority]}'): acc {base_acc * 100:.1f}%  "
          f"macroF1 {base_f1:.3f}  prior-only val_ce {base_ce:.4f}")

    model, opt = build(xt.shape[1])
    mx.eval(model.parameters())
    vl, acc, f1 = evaluate(model, xv, y_va)
    print(f"untrained: val_ce {vl:.4f}  acc {acc * 100:.1f}%  macroF1 {f1:.3f}")

    print(f"session 1: steps 0..{SPLIT_AT - 1}")
    run_session(model, opt, 0, SPLIT_AT, data, rng)
    ck_dir = tempfile.mkdtemp(None, "drystone_")
    save_ckpt(ck_dir, model, opt)
    before = evaluate(model, xv, y_va)
    print(f"checkpoint written after step {int(opt.state['step'])} "
          f"(val_ce {before[0]:.4f})")
    del model, opt

    model, opt = build(xt.shape[1])
    load_ckpt(ck_dir, model, opt)
    after = evaluate(model, xv, y_va)
    print(f"session 2: restored step {int(opt.state['step'])}, "
          f"val_ce {after[0]:.4f} (difference {abs(after[0] - before[0]):.2e})")
    run_session(model, opt, SPLIT_AT, TOTAL_STEPS, data, rng)

    vl, acc, f1 = evaluate(model, xv, y_va)
    print(f"final: val_ce {vl:.4f} vs prior-only {base_ce:.4f}; "
          f"acc {acc * 100:.1f}% vs {base_acc * 100:.1f}%; "
          f"macroF1 {f1:.3f} vs {base_f1:.3f}; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
