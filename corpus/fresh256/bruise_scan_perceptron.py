"""Apple packhouse: sound vs bruised fruit from 24 near-infrared reflectance
bands. Rosenblatt perceptron with weight averaging, written by hand in MLX.
The synthetic packs are linearly separable with a margin, so the perceptron
stops making mistakes after a few passes; from then on it makes no updates
and the raw weight vector stays exactly where it is, while the averaged
weights keep drifting toward it.
"""
import numpy as np
import mlx.core as mx

rng = np.random.default_rng(11)
D = 24
EPOCHS = 12
MARGIN = 0.25


def make_split(n, w_true):
    xs, ys = [], []
    while sum(len(v) for v in xs) < n:
        band = rng.normal(size=(4 * n, D))
        band[:, :4] += 0.5 * band[:, 4:8]  # neighbouring NIR bands correlate
        s = band @ w_true - 0.2
        keep = np.abs(s) > MARGIN
        xs.append(band[keep])
        ys.append(np.where(s[keep] > 0, 1.0, -1.0))
    x = np.concatenate(xs)[:n]
    y = np.concatenate(ys)[:n]
    return x.astype(np.float32), y.astype(np.float32)


w_true = rng.normal(size=D)
w_true /= np.linalg.norm(w_true)
x_tr, y_tr = make_split(1200, w_true)
x_te, y_te = make_split(400, w_true)
x_tr = np.hstack([x_tr, np.ones((len(x_tr), 1), np.float32)])
x_te = np.hstack([x_te, np.ones((len(x_te), 1), np.float32)])

X, Y = mx.array(x_tr), mx.array(y_tr)
Xte, Yte = mx.array(x_te), mx.array(y_te)
rows = [X[i] for i in range(len(x_tr))]
mx.eval(rows)


def err(w, A, B):
    return mx.mean((A @ w) * B <= 0).item()


maj = max((y_te > 0).mean(), (y_te < 0).mean())
print(f"packs: train {len(x_tr)}, test {len(x_te)}; bruised share {(y_tr > 0).mean():.3f}; majority-class test error {1 - maj:.4f}")

w = mx.zeros((D + 1,))
w_sum = mx.zeros((D + 1,))
seen = 0
last_change = 0
for epoch in range(1, EPOCHS + 1):
    w_start = w
    mistakes = 0
    for i in rng.permutation(len(x_tr)):
        yi = float(y_tr[i])
        if yi * (w @ rows[i]).item() <= 0.0:
            w = w + yi * rows[i]
            mistakes += 1
        w_sum = w_sum + w
        seen += 1
        if seen % 200 == 0:
            mx.eval(w, w_sum)
    mx.eval(w, w_sum)
    w_avg = w_sum / seen
    step = mx.sqrt(mx.sum((w - w_start) ** 2)).item()
    if mistakes:
        last_change = epoch
    print(
        f"epoch {epoch:2d} | mistakes {mistakes:4d} | updates {mistakes:4d} | |dw| {step:.4f} | "
        f"|w| {mx.sqrt(mx.sum(w * w)).item():.3f} | train err {err(w, X, Y):.4f} | "
        f"test err raw {err(w, Xte, Yte):.4f} avg {err(w_avg, Xte, Yte):.4f}"
    )
cos = (mx.sum(w[:D] * mx.array(w_true)) / mx.sqrt(mx.sum(w[:D] ** 2))).item()
print(f"raw weights last changed in epoch {last_change}; cosine to the true direction {cos:.4f}")
print(f"final test error {err(w_sum / seen, Xte, Yte):.4f} (averaged) vs majority {1 - maj:.4f}")
