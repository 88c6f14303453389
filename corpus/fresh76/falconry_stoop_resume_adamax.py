"""Falconry: will a peregrine's stoop end in a strike?

Binary classifier over 7 flight-log features. Trained in two sittings:
sitting 1 runs a few epochs and writes a checkpoint (weights + optimizer
state) to a temp folder; sitting 2 builds everything fresh, restores that
checkpoint and carries on. Reports use string.Template.
"""
import os
import tempfile
import time
from string import Template

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LINE = Template("[$sitting] ep $epoch/$total  lr=$lr  bce=$bce  val_bce=$vbce  "
                "brier=$brier  auc=$auc  hits=$hits%  ($secs s)")


def make_flights(n, rng):
    alt = rng.uniform(80, 900, n)              # stoop start altitude, m
    wind = rng.gamma(2.0, 2.5, n)              # m/s
    prey_speed = rng.normal(14, 4, n).clip(3)  # m/s
    angle = rng.uniform(20, 85, n)             # stoop angle, deg
    age = rng.integers(1, 12, n).astype(float) # bird age, years
    hood_min = rng.exponential(20, n)          # minutes hooded before flight
    sun = rng.uniform(-1, 1, n)                # sun behind falcon (+1) .. in its eyes (-1)
    logit = (0.004 * (alt - 400) - 0.18 * (wind - 5) - 0.11 * (prey_speed - 14)
             + 0.035 * (angle - 55) - 0.06 * (age - 5) ** 2 / 3 + 0.5
             - 0.01 * hood_min + 0.7 * sun)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    X = np.stack([alt / 400, wind / 5, prey_speed / 14, angle / 55, age / 5,
                  np.log1p(hood_min), sun], 1).astype(np.float32)
    return X, y


class StoopNet(nn.Module):
    def __init__(self, d_in=7, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(model, X, y):
    logits = model(mx.array(X))
    loss = nn.losses.binary_cross_entropy(logits, mx.array(y), with_logits=True).item()
    p = np.array(mx.sigmoid(logits))
    return loss, float(np.mean((p - y) ** 2)), auc(p, y), 100.0 * np.mean((p > 0.5) == (y == 1))


def run_epochs(sitting, model, opt, Xtr, ytr, Xva, yva, first, last, total, rng, batch=64):
    step_fn = nn.value_and_grad(model, bce)
    t0 = time.time()
    for ep in range(first, last + 1):
        perm = rng.permutation(len(Xtr))
        run, nb = 0.0, 0
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        vb, br, au, hit = evaluate(model, Xva, yva)
        print(LINE.substitute(sitting=sitting, epoch=ep, total=total,
                              lr=f"{opt.learning_rate.item():.2e}", bce=f"{run / nb:.4f}",
                              vbce=f"{vb:.4f}", brier=f"{br:.4f}", auc=f"{au:.3f}",
                              hits=f"{hit:.1f}", secs=f"{time.time() - t0:.1f}"))


def save_ckpt(folder, model, opt, epoch):
    model.save_weights(os.path.join(folder, "stoop.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, "stoop_opt.safetensors"), flat,
                        metadata={"epoch": str(epoch)})


def load_ckpt(folder, model, opt):
    model.load_weights(os.path.join(folder, "stoop.safetensors"))
    flat, meta = mx.load(os.path.join(folder, "stoop_opt.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(flat.items()))
    return int(meta["epoch"])


def make_opt(total_steps):
    sched = optim.cosine_decay(3e-3, total_steps, end=1e-4)
    return optim.Adamax(learning_rate=sched)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = make_flights(12000, rng)
    Xva, yva = make_flights(2000, rng)
    print(f"flights: train={len(Xtr)} valid={len(Xva)} strike_rate={ytr.mean():.3f}")
    EPOCHS, SPLIT = 10, 4
    steps = EPOCHS * (len(Xtr) // 64)

    model = StoopNet()
    opt = make_opt(steps)
    mx.eval(model.parameters())
    # gradient audit before any update
    _, g = nn.value_and_grad(model, bce)(model, mx.array(Xtr[:64]), mx.array(ytr[:64]))
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0]
    print(f"grad audit: {len(leaves)} leaves, zero={zero}")
    vb, br, au, hit = evaluate(model, Xva, yva)
    print(LINE.substitute(sitting="init", epoch=0, total=EPOCHS, lr="-", bce="-",
                          vbce=f"{vb:.4f}", brier=f"{br:.4f}", auc=f"{au:.3f}",
                          hits=f"{hit:.1f}", secs="0.0"))

    with tempfile.TemporaryDirectory() as ckdir:
        run_epochs("sit1", model, opt, Xtr, ytr, Xva, yva, 1, SPLIT, EPOCHS, rng)
        save_ckpt(ckdir, model, opt, SPLIT)
        before = evaluate(model, Xva, yva)[0]
        del model, opt
        print(f"checkpoint written after epoch {SPLIT}; starting a fresh process-like sitting")

        model = StoopNet()
        opt = make_opt(steps)
        done = load_ckpt(ckdir, model, opt)
        mx.eval(model.parameters(), opt.state)
        after = evaluate(model, Xva, yva)[0]
        print(f"restored epoch {done}: val_bce {before:.4f} -> {after:.4f}, "
              f"optimizer step {opt.step.item()}")
        run_epochs("sit2", model, opt, Xtr, ytr, Xva, yva, done + 1, EPOCHS, EPOCHS, rng)
    vb, br, au, hit = evaluate(model, Xva, yva)
    print(f"done: val_bce={vb:.4f} brier={br:.4f} auc={au:.3f} hits={hit:.1f}% "
          f"(always-miss baseline {100 * (1 - yva.mean()):.1f}%)")


if __name__ == "__main__":
    main()
