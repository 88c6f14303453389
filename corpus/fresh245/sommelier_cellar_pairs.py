"""Cellar-book matching: a dual encoder that pairs a wine's lab assay with its
tasting note (a bag of descriptor words), trained with symmetric InfoNCE.

Batch size grows from 32 to 128 halfway through: more negatives per row, so the
InfoNCE value is on a different scale after the switch (its uniform-guess value is
log B). ~15% of the cellar-book notes were filed against another bottle.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_TRAIN, N_TEST = 900, 300
VOCAB, MAX_WORDS, LATENT = 40, 8, 6
MISFILED = 0.15


def cellar(n, rng, A, D, misfiled=0.0):
    z = rng.normal(size=(n, LATENT)).astype(np.float32)
    assay = np.tanh(z @ A) + 0.1 * rng.normal(size=(n, 12))
    words = np.zeros((n, MAX_WORDS), dtype=np.int32)
    for i in range(n):
        k = rng.integers(4, MAX_WORDS + 1)
        p = np.exp(2.0 * (D @ z[i]))
        p /= p.sum()
        words[i, :k] = 1 + rng.choice(VOCAB, size=k, replace=False, p=p)
    if misfiled:
        bad = np.where(rng.random(n) < misfiled)[0]
        words[bad] = words[rng.permutation(bad)]
    return assay.astype(np.float32), words


class AssayTower(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.norm = nn.LayerNorm(12)
        self.l1 = nn.Linear(12, 64)
        self.l2 = nn.Linear(64, dim)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(self.norm(x))))


class NoteTower(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.emb = nn.Embedding(VOCAB + 1, 32)
        self.l1 = nn.Linear(32, 64)
        self.l2 = nn.Linear(64, dim)

    def __call__(self, w):
        mask = (w > 0).astype(mx.float32)[..., None]
        bag = (self.emb(w) * mask).sum(axis=1) / mask.sum(axis=1)
        return self.l2(nn.gelu(self.l1(bag)))


class Pairer(nn.Module):
    def __init__(self):
        super().__init__()
        self.assay = AssayTower()
        self.note = NoteTower()
        self.logit_scale = mx.array(math.log(1 / 0.07))

    def embed(self, x, w):
        a = self.assay(x)
        t = self.note(w)
        a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
        t = t / mx.linalg.norm(t, axis=-1, keepdims=True)
        return a, t


def info_nce(model, x, w):
    a, t = model.embed(x, w)
    logits = mx.exp(model.logit_scale) * (a @ t.T)
    target = mx.arange(x.shape[0])
    l1 = nn.losses.cross_entropy(logits, target, reduction="mean")
    l2 = nn.losses.cross_entropy(logits.T, target, reduction="mean")
    return 0.5 * (l1 + l2)


def retrieval(model, x, w):
    a, t = model.embed(x, w)
    sim = np.array(a @ t.T)
    n = sim.shape[0]
    out = {}
    for name, s in (("note->assay", sim.T), ("assay->note", sim)):
        rank = (s > s[np.arange(n), np.arange(n)][:, None]).sum(axis=1)
        out[name] = (100 * (rank < 1).mean(), 100 * (rank < 5).mean(), (1 / (rank + 1)).mean())
    return out


def spark(vals):
    bars = "▁▂▃▄▅▆▇█"
    lo, hi = min(vals), max(vals)
    return "".join(bars[int((v - lo) / (hi - lo + 1e-9) * 7)] for v in vals)


def main():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(LATENT, 12)).astype(np.float32) / math.sqrt(LATENT)
    D = rng.normal(size=(VOCAB, LATENT)).astype(np.float32) / math.sqrt(LATENT)
    tr_x, tr_w = cellar(N_TRAIN, rng, A, D, misfiled=MISFILED)
    te_x, te_w = cellar(N_TEST, rng, A, D)
    tr_x, tr_w, te_x, te_w = map(mx.array, (tr_x, tr_w, te_x, te_w))

    mx.random.seed(7)
    model = Pairer()
    warm, total = 60, 600
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm]
    )
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, info_nce)
    cap = math.log(100.0)

    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"cellar book: {N_TRAIN} train pairs ({MISFILED:.0%} misfiled), {N_TEST} held-out pairs, {n_par} params")
    r0 = retrieval(model, te_x, te_w)
    print(f"untrained  note->assay R@1 {r0['note->assay'][0]:.1f}%  (chance {100 / N_TEST:.2f}%)")

    hist, window, t0 = [], [], time.perf_counter()
    for step in range(1, total + 1):
        B = 32 if step <= total // 2 else 128
        idx = mx.array(rng.choice(N_TRAIN, size=B, replace=False))
        lr_now = float(sched(mx.array(step - 1)))
        loss, grads = step_fn(model, tr_x[idx], tr_w[idx])
        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"step 1: lr {lr_now:.1e}, {len(flat)} gradient arrays, all-zero: {dead or 'none'}")
        opt.update(model, grads)
        model.logit_scale = mx.minimum(model.logit_scale, cap)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == total // 2 + 1:
            print(f"--- step {step}: batch 32 -> 128, uniform-guess InfoNCE {math.log(32):.2f} -> {math.log(128):.2f}")
        if step % 50 == 0:
            hist.append(float(np.mean(window)))
            if step % 100 == 0:
                r = retrieval(model, te_x, te_w)
                print(
                    f"step {step:4d}  B {B:3d}  lr {float(opt.learning_rate):.2e}  infonce {hist[-1]:.3f}"
                    f" (log B {math.log(B):.2f})  temp {1 / math.exp(model.logit_scale.item()):.4f}"
                    f"  held-out note->assay R@1 {r['note->assay'][0]:5.1f}%  {time.perf_counter() - t0:.1f}s"
                )
            window = []

    print("infonce per 50 steps:", spark(hist), f"[{min(hist):.2f} .. {max(hist):.2f}]")
    r = retrieval(model, te_x, te_w)
    print(f"held-out retrieval over {N_TEST} wines (chance R@1 {100 / N_TEST:.2f}%, R@5 {500 / N_TEST:.2f}%)")
    for k, (r1, r5, mrr) in r.items():
        print(f"  {k:12s} R@1 {r1:5.1f}%  R@5 {r5:5.1f}%  MRR {mrr:.3f}")
    print(f"done: logit scale {math.exp(model.logit_scale.item()):.1f} (cap 100), {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
