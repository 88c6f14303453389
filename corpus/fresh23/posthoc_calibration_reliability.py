"""Post-hoc calibration of a frozen, over-confident classifier.

The 'pretrained' classifier is fixed (its logits are precomputed once).
We fit vector scaling on a held-out calibration split: one log-temperature
and one bias per class, by minimising minibatch NLL with Adam.  Progress is shown as a
text reliability diagram (confidence bins vs accuracy) with the expected
calibration error (ECE, lower is better) and NLL on a separate test split.
Accuracy barely moves (argmax is nearly unchanged); that is expected.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
C, D = 6, 20
centers = rng.normal(scale=1.0, size=(C, D))


def make(n):
    y = rng.integers(0, C, size=n)
    x = centers[y] + rng.normal(scale=1.6, size=(n, D))
    return x.astype(np.float32), y.astype(np.int32)


# "pretrained" linear classifier: nearest-centre scores, then made
# over-confident (x18) and given a skewed class prior, as often happens
W = centers.T.astype(np.float32)
prior_skew = np.linspace(-0.8, 0.8, C).astype(np.float32)


def frozen_logits(x):
    return 18.0 * (x @ W - 0.5 * (centers ** 2).sum(1)) / D + prior_skew


x_cal, y_cal = make(3000)
x_test, y_test = make(3000)
Lcal, Ycal = mx.array(frozen_logits(x_cal)), mx.array(y_cal)
Ltest, Ytest = mx.array(frozen_logits(x_test)), mx.array(y_test)


class VectorScaling(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_t = mx.array(0.0)
        self.bias = mx.zeros((C,))

    def __call__(self, logits):
        return logits / mx.exp(self.log_t) + self.bias


def nll(model, logits, y):
    return nn.losses.cross_entropy(model(logits), y, reduction="mean")


def reliability(model, logits, y, bins=10):
    p = mx.softmax(model(logits), axis=-1)
    conf = np.array(mx.max(p, axis=-1))
    pred = np.array(mx.argmax(p, axis=-1))
    yy = np.array(y)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.sum() == 0:
            continue
        acc, c = (pred[m] == yy[m]).mean(), conf[m].mean()
        ece += m.mean() * abs(acc - c)
        rows.append((lo, hi, int(m.sum()), c, acc))
    return ece, (pred == yy).mean(), rows


def show(it, model):
    ece, acc, rows = reliability(model, Ltest, Ytest)
    test_nll = nll(model, Ltest, Ytest).item()
    print(f"--- iter {it:4d}  T={np.exp(model.log_t.item()):.3f}  test NLL={test_nll:.4f}  ECE={ece * 100:.2f}%  acc={acc:.3f}")
    for lo, hi, n, c, a in rows:
        bar = "#" * int(round(a * 30))
        gap = "+" * int(round(max(0.0, c - a) * 30))
        print(f"  ({lo:.1f},{hi:.1f}] n={n:5d} conf={c:.2f} acc={a:.2f} |{bar}{gap}")


model = VectorScaling()
opt = optim.Adam(learning_rate=0.0015)
step = nn.value_and_grad(model, nll)
show(0, model)
for it in range(1, 1501):
    idx = mx.array(rng.integers(0, Lcal.shape[0], size=128))
    loss, g = step(model, Lcal[idx], Ycal[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if it % 250 == 0:
        show(it, model)
print("final calibration-split NLL (full split)", round(nll(model, Lcal, Ycal).item(), 4))
