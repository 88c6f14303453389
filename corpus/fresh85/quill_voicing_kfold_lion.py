"""Harpsichord voicing: predict pluck loudness (dB) of a quill/delrin plectrum
from its cut geometry. 5-fold cross-validation, each fold from scratch.
Hand-written Lion optimizer over tree_map."""
import csv, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

FEATS = ["length_mm", "width_mm", "thickness_um", "taper", "angle_deg", "delrin"]


def make_data(n, seed=7):
    r = np.random.default_rng(seed)
    L = r.uniform(3, 7, n); W = r.uniform(0.8, 1.6, n); T = r.uniform(180, 420, n)
    tp = r.uniform(0, 1, n); ang = r.uniform(-8, 8, n); dl = r.integers(0, 2, n)
    stiff = W * (T / 300.0) ** 3 / L ** 2 * (1 - 0.35 * tp)
    db = 62 + 9 * np.log(stiff + 0.05) + 0.12 * ang - 0.004 * ang ** 2 + 1.5 * dl + r.normal(0, 0.7, n)
    X = np.stack([L, W, T, tp, ang, dl], 1).astype(np.float32)
    return X, db.astype(np.float32)


class Voicer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.inp = nn.Linear(d, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


class HandLion:
    """Lion (sign of interpolated momentum) written by hand over tree_map."""
    def __init__(self, lr, b1=0.9, b2=0.99, wd=0.0):
        self.lr, self.b1, self.b2, self.wd, self.m = lr, b1, b2, wd, None

    def step(self, model, grads):
        params = model.trainable_parameters()
        if self.m is None:
            self.m = tree_map(mx.zeros_like, grads)
        upd = tree_map(lambda m, g: mx.sign(self.b1 * m + (1 - self.b1) * g), self.m, grads)
        self.m = tree_map(lambda m, g: self.b2 * m + (1 - self.b2) * g, self.m, grads)
        model.update(tree_map(lambda p, u: p * (1 - self.lr * self.wd) - self.lr * u, params, upd))
        return self.m


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_fold(k, Xtr, ytr, Xva, yva, out, ysd, epochs=10, bs=64):
    mx.random.seed(100 + k)
    model = Voicer(Xtr.shape[1])
    opt = HandLion(3e-4, wd=0.01)
    vg = nn.value_and_grad(model, mse)
    rng = np.random.default_rng(k)
    xv, yv = mx.array(Xva), mx.array(yva)
    rmse0 = float(mx.sqrt(mse(model, xv, yv)))
    out.writerow([k, 0, "", f"{rmse0 * ysd:.3f}", ""])
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr)); tot = 0.0; nb = 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = vg(model, mx.array(Xtr)[idx], mx.array(ytr)[idx])
            if k == 0 and ep == 1 and i == 0:
                leaves = tree_flatten(g)
                zero = [p for p, v in leaves if float(mx.abs(v).max()) == 0.0]
                print(f"# fold 0 first step: {len(leaves)} gradient leaves, zero={zero}", file=sys.stderr)
            state = opt.step(model, g)
            mx.eval(loss, model.parameters(), state)
            tot += loss.item(); nb += 1
        if ep in (1, 2, 5, epochs):
            rm = float(mx.sqrt(mse(model, xv, yv)))
            out.writerow([k, ep, f"{tot / nb:.4f}", f"{rm * ysd:.3f}", f"{time.time() - t0:.1f}"])
    return float(mx.sqrt(mse(model, xv, yv)))


def main():
    X, y = make_data(5000)
    mu, sd = X.mean(0), X.std(0)
    Xs = (X - mu) / sd
    ym, ys = y.mean(), y.std()
    print(f"# {len(X)} plectra, target mean {ym:.2f} dB sd {ys:.2f} dB, noise sd 0.70 dB", file=sys.stderr)
    folds = np.array_split(np.random.default_rng(0).permutation(len(X)), 5)
    w = csv.writer(sys.stdout)
    w.writerow(["fold", "epoch", "train_mse_std", "val_rmse_db", "secs"])
    scores = []
    for k, va in enumerate(folds):
        tr = np.concatenate([f for j, f in enumerate(folds) if j != k])
        r = run_fold(k, Xs[tr], (y[tr] - ym) / ys, Xs[va], (y[va] - ym) / ys, w, ys)
        scores.append(float(r * ys))
    print(f"# cv rmse (dB): mean {np.mean(scores):.3f} sd {np.std(scores):.3f} per-fold {[round(s, 3) for s in scores]}", file=sys.stderr)


if __name__ == "__main__":
    main()
