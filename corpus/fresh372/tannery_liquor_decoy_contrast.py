"""Tannery chrome-vat liquor screening.

A small MLP is trained to tell real vat records from decoys.  Its logit is the
normality score: low logit = unusual record.

Stage 1 decoys: uniform noise in the standardised box.
Stage 2 decoys: real records with two columns shuffled across the batch
(marginals kept, joint relations scrambled).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATS = ["ph", "temp_c", "cr2o3_gpl", "salt_gpl", "drum_rpm", "hours", "hide_mm", "exhaust_gpl"]


def vat_records(rng, n):
    basicity = rng.uniform(0.0, 1.0, n)
    load = rng.uniform(0.0, 1.0, n)
    hide = rng.uniform(0.0, 1.0, n)
    ph = 3.2 + 1.1 * basicity + 0.05 * rng.normal(size=n)
    temp = 30 + 10 * basicity + 2.0 * load + 0.6 * rng.normal(size=n)
    cr = 6 + 8 * load + 0.3 * rng.normal(size=n)
    salt = 50 + 20 * (1 - basicity) + 1.5 * rng.normal(size=n)
    rpm = 8 + 6 * hide + 0.4 * rng.normal(size=n)
    hours = 6 + 8 * hide * (1.2 - basicity) + 0.4 * rng.normal(size=n)
    hide_mm = 1.2 + 2.5 * hide + 0.08 * rng.normal(size=n)
    uptake = 1 - np.exp(-1.5 * hours / 8 * (0.5 + basicity))
    exhaust = cr * (1 - uptake) + 0.15 * rng.normal(size=n)
    return np.stack([ph, temp, cr, salt, rpm, hours, hide_mm, exhaust], 1)


def faulty_records(rng, n):
    x = vat_records(rng, n)
    kind = rng.integers(0, 3, n)
    # exhaust far from what uptake allows
    x[kind == 0, 7] *= rng.uniform(1.6, 2.4, (kind == 0).sum())
    # pH and salt drift apart
    x[kind == 1, 0] += rng.choice([-0.45, 0.45], (kind == 1).sum())
    # drum run much longer than the hide needs
    x[kind == 2, 5] += rng.uniform(4.0, 6.0, (kind == 2).sum())
    return x


def auroc(score_normal, score_odd):
    s = np.concatenate([score_normal, score_odd])
    y = np.concatenate([np.zeros(len(score_normal)), np.ones(len(score_odd))])
    order = np.argsort(s)
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


class Screener(nn.Module):
    def __init__(self, d, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def make_optimizer():
    sched = optim.join_schedules(
        [
            optim.linear_schedule(0.0, 0.05, 200),     # warm-up from exactly 0
            optim.linear_schedule(0.05, 0.05, 400),    # hold through stage 1
            optim.linear_schedule(0.0, 0.02, 100),     # stage 2 restarts from 0
            optim.linear_schedule(0.02, 0.002, 800),
        ],
        [200, 600, 700],
    )
    return optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    raw_train = vat_records(rng, 8000)
    mu, sd = raw_train.mean(0), raw_train.std(0)
    norm = lambda a: ((a - mu) / sd).astype(np.float32)
    xtr = norm(raw_train)
    te_ok = norm(vat_records(rng, 1500))
    te_odd = norm(faulty_records(rng, 150))

    cov = np.cov(xtr, rowvar=False)
    prec = np.linalg.inv(cov)
    maha = lambda a: np.einsum("ij,jk,ik->i", a, prec, a)
    base_auc = auroc(maha(te_ok), maha(te_odd))
    print(f"records train={len(xtr)} test_ok={len(te_ok)} test_odd={len(te_odd)} feats={len(FEATS)}")
    print(f"baseline mahalanobis auroc={base_auc:.3f}")

    model = Screener(len(FEATS))
    mx.eval(model.parameters())
    opt = make_optimizer()

    def loss_fn(m, xr, xd):
        lr_ = m(xr)
        ld_ = m(xd)
        return 0.5 * (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True, reduction="mean")
                      + nn.losses.binary_cross_entropy(ld_, mx.zeros_like(ld_), with_logits=True, reduction="mean"))

    def evaluate(m):
        s_ok = -np.array(m(mx.array(te_ok)))
        s_odd = -np.array(m(mx.array(te_odd)))
        thr = np.quantile(s_ok, 0.95)
        return auroc(s_ok, s_odd), float((s_odd > thr).mean())

    B = 256
    total, ckpt_at = 1500, 1000
    ckdir = tempfile.mkdtemp()
    step = 0
    window = []
    while step < total:
        if step == ckpt_at:
            model.save_weights(os.path.join(ckdir, "w.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            model = Screener(len(FEATS))
            model.load_weights(os.path.join(ckdir, "w.safetensors"))
            opt = make_optimizer()
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            print(f"resumed at step {step} from {ckdir} (opt step {int(opt.state['step'])})")
            vg = nn.value_and_grad(model, loss_fn)
        if step == 0:
            vg = nn.value_and_grad(model, loss_fn)
        idx = rng.integers(0, len(xtr), B)
        xr = xtr[idx]
        if step < 600:
            xd = rng.uniform(-4, 4, xr.shape).astype(np.float32)
        else:
            xd = xr.copy()
            for r in range(B):
                cols = rng.choice(len(FEATS), 2, replace=False)
                donor = rng.integers(0, B, 2)
                xd[r, cols] = xr[donor, cols]
        loss, grads = vg(model, mx.array(xr), mx.array(xd))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if step % 250 == 0:
            print(f"step {step:5d} lr {float(opt.learning_rate):.4f} loss {np.mean(window):.4f}")
            window = []
        if step in (600, total):
            a, rec = evaluate(model)
            print(f"stage end step {step}: screener auroc={a:.3f} (mahalanobis {base_auc:.3f}) recall@5%fa={rec:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
