"""Bindery QA: grade the sewn text block of a hand-bound book (loose / sound / tight)
from eight bench readings taken before casing-in.

Schedule is stepped once per EPOCH (not per batch): a linear ramp over the first
four epochs starting from 0.0, then milestone drops (x0.1) at epochs 10 and 14.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["thread_tex", "stations", "signatures", "paper_gsm", "grain_ok",
            "kettle_stitch_mm", "paste_moist", "press_hours"]
GRADES = ["loose", "sound", "tight"]


def make_books(n, rng):
    tex = rng.uniform(18, 40, n)
    stations = rng.integers(3, 9, n).astype(np.float64)
    sigs = rng.integers(4, 30, n).astype(np.float64)
    gsm = rng.uniform(70, 160, n)
    grain = (rng.random(n) < 0.8).astype(np.float64)
    kettle = rng.uniform(5, 15, n)
    moist = rng.uniform(0.0, 1.0, n)
    press = rng.uniform(0, 48, n)
    # made-up tension score: thick thread on many stations pulls tight, heavy paper
    # against the grain and damp paste loosen it, long pressing tightens it
    score = (0.09 * (tex - 29) + 0.35 * (stations - 6) - 0.012 * (gsm - 115)
             + 0.9 * grain - 1.4 * (moist - 0.5) + 0.03 * (press - 24)
             - 0.02 * (sigs - 17) * (1 - grain) - 0.08 * (kettle - 10) ** 2 / 5
             + rng.logistic(0, 0.55, n))
    y = np.digitize(score, [-0.9, 1.0]).astype(np.int32)
    X = np.stack([tex, stations, sigs, gsm, grain, kettle, moist, press], 1)
    return X.astype(np.float32), y


class SewingNet(nn.Module):
    def __init__(self, d_in, hidden, n_out):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, x):
        h = nn.relu(self.norm1(self.inp(x)))
        h = h + self.drop(nn.relu(self.norm2(self.mid(h))))
        return self.out(h)


def epoch_lr(epoch, base=0.05, ramp=4, milestones=(10, 14), gamma=0.1):
    if epoch < ramp:
        return base * epoch / ramp
    lr = base
    for m in milestones:
        if epoch >= m:
            lr *= gamma
    return lr


def weight_vector(model):
    return np.concatenate([np.array(v).ravel() for _, v in tree_flatten(model.parameters())])


def main():
    rng = np.random.default_rng(7)
    X, y = make_books(9000, rng)
    Xtr, ytr, Xva, yva = X[:7500], y[:7500], X[7500:], y[7500:]
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    counts = np.bincount(ytr, minlength=3)
    majority = float(np.mean(yva == counts.argmax()))
    print(f"books: train {len(ytr)}  valid {len(yva)}  grades "
          + " ".join(f"{g}={c}" for g, c in zip(GRADES, counts)))
    print(f"majority-grade accuracy on valid: {100 * majority:.1f}%")

    mx.random.seed(11)
    model = SewingNet(len(FEATURES), 64, 3)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
    Xva_m, yva_m = mx.array(Xva), mx.array(yva)

    def evaluate():
        model.eval()
        logits = model(Xva_m)
        ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean")
        acc = mx.mean(mx.argmax(logits, axis=1) == yva_m)
        model.train()
        return ce.item(), acc.item()

    # one-off check that every leaf receives gradient
    _, g0 = loss_and_grad(model, Xtr_m[:128], ytr_m[:128])
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(f"gradient leaves: {len(tree_flatten(g0))}, all-zero: {zero if zero else 'none'}")

    ce0, acc0 = evaluate()
    print(f"[ep --/18] untrained                      val_ce={ce0:.4f} val_acc={100 * acc0:5.1f}%")

    batch, epochs = 64, 18
    model.train()
    for epoch in range(epochs):
        opt.learning_rate = epoch_lr(epoch)
        w_before = weight_vector(model)
        perm = np.random.default_rng(100 + epoch).permutation(len(ytr))
        t0, tot, nb = time.time(), 0.0, 0
        for i in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        dw = float(np.linalg.norm(weight_vector(model) - w_before))
        ce, acc = evaluate()
        lr_now = opt.learning_rate.item()
        print(f"[ep {epoch + 1:02d}/18] lr={lr_now:.5f} |dw|={dw:.3e} train_ce={tot / nb:.4f} "
              f"val_ce={ce:.4f} val_acc={100 * acc:5.1f}% ({time.time() - t0:.2f}s)")

    model.eval()
    pred = np.array(mx.argmax(model(Xva_m), axis=1))
    rec = [100 * float(np.mean(pred[yva == k] == k)) for k in range(3)]
    print("per-grade recall: " + "  ".join(f"{g} {r:.1f}%" for g, r in zip(GRADES, rec)))
    print(f"done: val_acc {100 * float(np.mean(pred == yva)):.1f}% vs majority {100 * majority:.1f}%")


if __name__ == "__main__":
    main()
