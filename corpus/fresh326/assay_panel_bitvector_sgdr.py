"""Multi-assay activity panel from substructure bit vectors.

Synthetic compounds carry 96-bit substructure fingerprints. Five assays read them out:
four follow made-up logistic laws over a few bits (with bit interactions), the fifth
("promiscuity counter-screen") is a coin flip independent of structure, so its loss
sits at the log(2) floor by design. About 40% of compound/assay cells were never
measured and are masked out of the loss. The learning rate follows cosine annealing
with warm restarts (cycles of 2, 4 and 8 epochs); each restart goes back to the top rate.
Progress is only printed at the end of each cycle.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BITS = 96
ASSAYS = ["kinase_A", "kinase_B", "hERG_flag", "solubility_ok", "counter_screen"]


def make_panel(n, rng):
    dens = rng.uniform(0.05, 0.25, size=(n, 1))
    fp = (rng.uniform(size=(n, BITS)) < dens).astype(np.float32)
    f = fp
    logits = np.stack([
        3.0 * f[:, 3] + 2.5 * f[:, 17] * f[:, 40] - 2.0 * f[:, 8] - 1.0,
        2.5 * f[:, 17] + 2.0 * f[:, 55] - 2.5 * f[:, 3] * f[:, 60] - 0.8,
        2.0 * f[:, 70] + 1.5 * f[:, 71] + 1.5 * f[:, 72] - 0.5 * f.sum(1) / 10 - 1.2,
        -2.5 * f[:, 90] - 0.12 * f.sum(1) + 2.0,
        np.zeros(n),
    ], axis=1)
    y = (rng.uniform(size=logits.shape) < 1 / (1 + np.exp(-2.0 * logits))).astype(np.float32)
    measured = (rng.uniform(size=y.shape) > 0.4).astype(np.float32)
    return fp, y, measured


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class PanelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(BITS, 64), nn.ReLU(), nn.Dropout(0.3),
                                   nn.Linear(64, 64), nn.ReLU())
        self.heads = nn.Linear(64, len(ASSAYS))

    def __call__(self, x):
        return self.heads(self.trunk(x))


def masked_bce(model, x, y, m):
    logits = model(x)
    per = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none")
    return (per * m).sum() / mx.maximum(m.sum(), 1.0)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr, mtr = make_panel(16000, rng)
    xva, yva, mva = make_panel(1500, rng)
    prev = (ytr * mtr).sum(0) / mtr.sum(0)
    print("measured fraction", round(float(mtr.mean()), 3), " prevalence",
          " ".join(f"{a}={p:.2f}" for a, p in zip(ASSAYS, prev)))
    base_ll = []
    for j in range(len(ASSAYS)):
        keep = mva[:, j] == 1
        p = np.clip(prev[j], 1e-6, 1 - 1e-6)
        yy = yva[keep, j]
        base_ll.append(float(-(yy * np.log(p) + (1 - yy) * np.log(1 - p)).mean()))

    model = PanelNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=5e-2)
    vg = nn.value_and_grad(model, masked_bce)
    Xtr, Ytr, Mtr = mx.array(xtr), mx.array(ytr), mx.array(mtr)
    Xva = mx.array(xva)

    bs = 200
    steps_per_epoch = len(xtr) // bs
    cycles = [2, 4, 8]
    lr_max, lr_min = 3e-3, 3e-5
    epoch = 0
    for ci, length in enumerate(cycles):
        cyc_steps = length * steps_per_epoch
        first_losses, last_losses = [], []
        for e in range(length):
            perm = rng.permutation(len(xtr))
            model.train()
            for s in range(steps_per_epoch):
                t = (e * steps_per_epoch + s) / cyc_steps
                opt.learning_rate = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t))
                idx = mx.array(perm[s * bs:(s + 1) * bs])
                loss, grads = vg(model, Xtr[idx], Ytr[idx], Mtr[idx])
                opt.update(model, grads)
                mx.eval(loss, model.parameters(), opt.state)
                if e == 0 and s < 10:
                    first_losses.append(loss.item())
                if e == length - 1 and s >= steps_per_epoch - 10:
                    last_losses.append(loss.item())
            epoch += 1
        model.eval()
        probs = np.array(mx.sigmoid(model(Xva)))
        parts = []
        lls = []
        for j, name in enumerate(ASSAYS):
            keep = mva[:, j] == 1
            pj = np.clip(probs[keep, j], 1e-6, 1 - 1e-6)
            yy = yva[keep, j]
            ll = float(-(yy * np.log(pj) + (1 - yy) * np.log(1 - pj)).mean())
            lls.append(ll)
            parts.append(f"{name} AUC {auc(probs[keep, j], yy):.3f} ll {ll:.3f}/{base_ll[j]:.3f}")
        print(f"cycle {ci + 1} ({length} ep, through epoch {epoch}): train loss first-10 "
              f"{np.mean(first_losses):.4f} last-10 {np.mean(last_losses):.4f}")
        for p in parts:
            print("   ", p)
    print("val log-loss beside prevalence baseline (lower is better); counter_screen floor ln2 =",
          f"{math.log(2):.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
