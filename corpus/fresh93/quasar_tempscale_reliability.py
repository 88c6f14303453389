"""Star / galaxy / quasar classifier from photometric colours, then temperature scaling.

Phase 1 trains the MLP on a small labelled set (it overfits and becomes
over-confident).  The model carries its own temperature parameter ``log_t``,
kept frozen at 0 (T = 1) during phase 1.

Phase 2 freezes the whole MLP and unfreezes only ``log_t``, fitted by NLL on a
separate calibration split (Guo et al. 2017).  Accuracy cannot change in
phase 2; the expected calibration error (ECE, lower is better) should drop.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["star", "galaxy", "quasar"]


def sky_survey(n, rng):
    y = rng.choice(3, size=n, p=[0.45, 0.40, 0.15])
    # made-up colour loci per class: u-g, g-r, r-i, i-z
    centres = np.array([[1.3, 0.55, 0.20, 0.08],
                        [1.6, 0.80, 0.40, 0.30],
                        [0.35, 0.20, 0.15, 0.05]])
    spread = np.array([[0.35, 0.25, 0.15, 0.12],
                       [0.40, 0.20, 0.15, 0.15],
                       [0.30, 0.25, 0.20, 0.15]])
    colours = centres[y] + spread[y] * rng.standard_normal((n, 4))
    r_mag = rng.uniform(15, 21.5, n) + 0.7 * (y == 1)
    # photometric errors grow for faint sources and blur the colours
    colours += (0.02 * np.exp(r_mag - 18.5))[:, None] * rng.standard_normal((n, 4))
    concentration = np.where(y == 1, rng.normal(2.1, 0.5, n), rng.normal(0.6, 0.6, n))
    X = np.column_stack([colours, r_mag, concentration]).astype(np.float32)
    return X, y.astype(np.int32)


class ColourNet(nn.Module):
    def __init__(self, d_in=6, width=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_in, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, len(CLASSES)))
        self.log_t = mx.zeros((1,))

    def __call__(self, x):
        return self.mlp(x) / mx.exp(self.log_t)


def nll(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def calibration(model, x, y, n_bins=10):
    logits = model(x)
    probs = np.array(mx.softmax(logits, axis=-1))
    conf = probs.max(1)
    pred = probs.argmax(1)
    yn = np.array(y)
    correct = (pred == yn).astype(np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.sum() == 0:
            continue
        gap = abs(correct[m].mean() - conf[m].mean())
        ece += m.mean() * gap
        rows.append((lo, hi, int(m.sum()), 100 * conf[m].mean(), 100 * correct[m].mean()))
    return {
        "nll": nn.losses.cross_entropy(logits, y, reduction="mean").item(),
        "acc": 100 * correct.mean(),
        "ece": 100 * ece,
        "rows": rows,
    }


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = sky_survey(1200, rng)
    Xcal, ycal = sky_survey(2000, rng)
    Xte, yte = sky_survey(4000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    to_mx = lambda a: mx.array((a - mu) / sd)
    xtr, xcal, xte = to_mx(Xtr), to_mx(Xcal), to_mx(Xte)
    ytr_m, ycal_m, yte_m = mx.array(ytr), mx.array(ycal), mx.array(yte)
    print(f"survey: {len(ytr)} labelled / {len(ycal)} calibration / {len(yte)} test sources; "
          f"class shares {np.bincount(yte) / len(yte)}")

    model = ColourNet()
    model.freeze(keys=["log_t"])        # temperature stays at T=1 in phase 1
    mx.eval(model.parameters())

    # ---------------- phase 1: classifier ----------------
    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, nll)
    _, g0 = loss_and_grad(model, xtr[:50], ytr_m[:50])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if not mx.any(v != 0).item()]
    print(f"phase 1 trainable leaves: {len(leaves)} ({', '.join(k for k, _ in leaves)}); "
          f"zero-gradient: {dead if dead else 'none'}")

    c = calibration(model, xte, yte_m)
    print(f"untrained  test acc {c['acc']:5.1f}%  nll {c['nll']:.3f}  ECE {c['ece']:5.2f}%")
    bs, epochs = 50, 80
    n = xtr.shape[0]
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = loss_and_grad(model, xtr[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.size
        if epoch % 10 == 0:
            c = calibration(model, xcal, ycal_m)
            print(f"epoch {epoch:3d}  train nll {tot / n:.3f}  |  calib nll {c['nll']:.3f}  "
                  f"acc {c['acc']:5.1f}%  ECE {c['ece']:5.2f}%")

    before = calibration(model, xte, yte_m)
    snapshot = {k: mx.array(v) for k, v in tree_flatten(model.mlp.parameters())}

    # ---------------- phase 2: temperature scaling ----------------
    model.freeze()
    model.unfreeze(keys=["log_t"])
    print(f"phase 2 trainable: {[k for k, _ in tree_flatten(model.trainable_parameters())]}")
    t_opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    t_grad = nn.value_and_grad(model, nll)
    for step in range(1, 151):
        loss, grads = t_grad(model, xcal, ycal_m)
        t_opt.update(model, grads)
        mx.eval(model.parameters(), t_opt.state, loss)
        if step in (1, 10, 25, 50, 100, 150):
            print(f"  T-fit step {step:3d}  T = {math.exp(model.log_t.item()):.3f}  "
                  f"calib nll {loss.item():.4f}")

    drift = max(mx.abs(v - snapshot[k]).max().item()
                for k, v in tree_flatten(model.mlp.parameters()))
    after = calibration(model, xte, yte_m)

    print()
    print(f"test set          accuracy   nll     ECE (lower is better)")
    print(f"  before scaling  {before['acc']:6.1f}%   {before['nll']:.3f}   {before['ece']:5.2f}%")
    print(f"  after  scaling  {after['acc']:6.1f}%   {after['nll']:.3f}   {after['ece']:5.2f}%")
    print()
    print("reliability after scaling (confidence bin: n, mean confidence %, accuracy %)")
    for lo, hi, cnt, conf, acc in after["rows"]:
        bar = "#" * int(round(acc / 5))
        print(f"  ({lo:.1f}, {hi:.1f}]  {cnt:5d}  {conf:5.1f}  {acc:5.1f}  {bar}")
    print(f"\nfitted T = {math.exp(model.log_t.item()):.3f}; MLP max drift in phase 2 = {drift:.1e}")


if __name__ == "__main__":
    main()
