"""Greenhouse aisle camera: depth per pixel as spacing-increasing-discretisation
(SID) bins, i.e. ordinal-style classification of log depth into 12 bins.

16x16 synthetic grey frames (floor, back wall / open sky, benches standing on
the floor).  Stage A probes a FROZEN random trunk (only the bin head learns);
stage B unfreezes everything.  Optimizer: Lion with a step decay.  Output is
a CSV table on stdout, '#' lines are notes.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = W = 16
FAR = 40.0
NEAR = 1.0


def render(n, rng):
    imgs = np.zeros((n, H, W, 1), np.float32)
    depth = np.zeros((n, H, W), np.float32)
    rows = np.arange(H)[:, None].astype(np.float32)
    cols = np.arange(W)[None, :].astype(np.float32)
    for i in range(n):
        hr = rng.uniform(3.0, 5.5)
        k = rng.uniform(5.0, 8.0)
        d = np.where(rows > hr, k / np.maximum(rows - hr, 0.5), FAR) * np.ones((1, W))
        d = np.clip(d, NEAR, FAR)
        alb = np.where(rows > hr, 0.55, 0.9) * np.ones((1, W))
        objs = sorted(rng.uniform(2.0, 16.0, size=rng.integers(1, 4)), reverse=True)
        for do in objs:
            base = hr + k / do
            tall = rng.uniform(1.2, 2.5) * k / do
            half = rng.uniform(0.3, 0.8) * k / do
            c0 = rng.uniform(0, W)
            m = (rows <= base) & (rows >= base - tall) & (np.abs(cols - c0) <= half)
            d = np.where(m, do, d)
            alb = np.where(m, rng.uniform(0.3, 0.7), alb)
        shade = alb * np.exp(-d / 25.0)
        tex = 0.12 * np.sin(2 * np.pi * cols * np.minimum(d, 12.0) / 10.0)
        img = shade + np.where(d < FAR, tex, 0.0) + rng.normal(0, 0.02, (H, W))
        imgs[i, :, :, 0] = img
        depth[i] = d
    return imgs, depth


NB = 12
EDGES = np.exp(np.linspace(np.log(NEAR), np.log(FAR), NB + 1)).astype(np.float32)
CENTERS = np.sqrt(EDGES[:-1] * EDGES[1:]).astype(np.float32)


def to_bins(depth):
    return np.clip(np.searchsorted(EDGES, depth, side="right") - 1, 0, NB - 1).astype(np.int32)


class Trunk(nn.Module):
    def __init__(self, hid=160):
        super().__init__()
        self.l1 = nn.Linear(H * W, hid)
        self.l2 = nn.Linear(hid, hid)

    def __call__(self, x):
        z = nn.silu(self.l1(x.reshape(x.shape[0], -1)))
        return z + nn.silu(self.l2(z))


class BinDepth(nn.Module):
    def __init__(self, hid=160):
        super().__init__()
        self.trunk = Trunk(hid)
        self.head = nn.Linear(hid, H * W * NB)

    def __call__(self, x):
        return self.head(self.trunk(x)).reshape(-1, H, W, NB)


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def main():
    t0 = time.time()
    rng = np.random.default_rng(4011)
    mx.random.seed(4011)
    xtr, dtr = render(1600, rng)
    xva, dva = render(400, rng)
    mu, sd = xtr.mean(), xtr.std()
    xtr = mx.array((xtr - mu) / sd)
    xva = mx.array((xva - mu) / sd)
    btr = mx.array(to_bins(dtr))
    bva = to_bins(dva)
    centers = mx.array(CENTERS)

    counts = np.stack([(to_bins(dtr) == k).sum(0) for k in range(NB)], -1)
    major = counts.argmax(-1)
    base_acc = float((bva == major[None]).mean() * 100)
    base_rel = float(np.mean(np.abs(CENTERS[major][None] - dva) / dva))

    model = BinDepth()
    mx.eval(model.parameters())

    def evaluate():
        logits = model(xva)
        loss = mx.mean(nn.losses.cross_entropy(logits, mx.array(bva))).item()
        prob = mx.softmax(logits, axis=-1)
        dexp = np.array(mx.exp(mx.sum(prob * mx.log(centers), axis=-1)))
        acc = float((np.array(mx.argmax(logits, -1)) == bva).mean() * 100)
        near = float((np.abs(np.array(mx.argmax(logits, -1)) - bva) <= 1).mean() * 100)
        rel = float(np.mean(np.abs(dexp - dva) / dva))
        return loss, acc, near, rel

    print(f"# {xtr.shape[0]} train / {xva.shape[0]} valid frames {H}x{W}, {NB} SID bins {NEAR:.0f}-{FAR:.0f} m")
    print(f"# chance CE ln({NB}) = {math.log(NB):.3f}; majority-bin map: bin acc {base_acc:.1f} %, abs_rel {base_rel:.4f}")
    print("stage,epoch,step,lr,train_ce,valid_ce,bin_acc_pct,within1_pct,abs_rel,trunk_drift")
    l, a, n1, r = evaluate()
    print(f"-,0,0,,,{l:.4f},{a:.1f},{n1:.1f},{r:.4f},")

    batch = 50
    spe = xtr.shape[0] // batch
    nprng = np.random.default_rng(5)
    step = 0
    for stage, epochs, lr0 in (("A", 4, 3e-4), ("B", 7, 1e-4)):
        if stage == "A":
            model.trunk.freeze()
        else:
            model.unfreeze()
        snap = {k: mx.array(v) for k, v in tree_flatten(model.trunk.parameters())}
        sched = optim.step_decay(lr0, 0.5, 3 * spe)
        opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
        vg = nn.value_and_grad(model, ce)
        first = True
        for ep in range(1, epochs + 1):
            perm = mx.array(nprng.permutation(xtr.shape[0]))
            tot = 0.0
            for b in range(spe):
                idx = perm[b * batch:(b + 1) * batch]
                loss, grads = vg(model, xtr[idx], btr[idx])
                if first:
                    leaves = tree_flatten(grads)
                    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                    print(f"# stage {stage} grad check: {len(leaves)} trainable leaves, zero: {zero if zero else 'none'}")
                    first = False
                lr_now = sched(opt.step).item()
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
                step += 1
            drift = max(float(mx.abs(v - snap[k]).max()) for k, v in tree_flatten(model.trunk.parameters()))
            l, a, n1, r = evaluate()
            print(f"{stage},{ep},{step},{lr_now:.2e},{tot / spe:.4f},{l:.4f},{a:.1f},{n1:.1f},{r:.4f},{drift:.2e}")
    print(f"# finished in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
