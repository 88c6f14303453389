"""Cricket ball-by-ball: how (if at all) a delivery takes a wicket.

Five outcomes: no wicket, bowled, lbw, caught behind, caught in the field.
Features come from a made-up ball-tracking law (speed, line, length, swing,
seam, bounce) plus the batter's shot (defend / drive / pull / sweep).

The classifier is trained with the 1.5-entmax Fenchel-Young loss, written as
an mx.custom_function with its own VJP (gradient = entmax(z) - onehot(y)).
1.5-entmax gives SPARSE probabilities: many classes get exactly 0.

The run is silent while it trains; everything is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["no_wkt", "bowled", "lbw", "ct_behind", "ct_field"]
SHOTS = ["defend", "drive", "pull", "sweep"]


# ----------------------------------------------------------------- data
def make_deliveries(n, rng):
    speed = rng.normal(132.0, 8.0, n)            # km/h
    line = rng.normal(0.0, 0.18, n)              # m outside off (+) / leg (-)
    length = rng.uniform(2.0, 10.0, n)           # m from the stumps
    swing = rng.normal(0.0, 1.2, n)              # degrees
    seam = rng.normal(0.0, 0.8, n)               # degrees
    bounce = 0.75 + 0.03 * (10.0 - length) + rng.normal(0, 0.08, n)
    shot = rng.integers(0, 4, n)

    full = np.exp(-((length - 3.5) ** 2) / 2.0)
    short = np.clip((length - 7.0) / 3.0, 0, None)
    on_stumps = np.exp(-(line / 0.11) ** 2)
    outside_off = np.clip(line / 0.2, 0, None)
    mov = np.abs(swing) + np.abs(seam)
    sp = (speed - 132.0) / 8.0
    defend, drive, pull, sweep = [(shot == k).astype(float) for k in range(4)]

    logits = np.stack([
        2.2 + 0.3 * defend + 0.0 * sp,
        -1.2 + 1.6 * full * on_stumps + 0.4 * sp + 0.6 * drive * full,
        -1.6 + 1.4 * full * on_stumps + 0.5 * mov * on_stumps + 1.0 * sweep,
        -1.5 + 1.3 * outside_off * mov + 0.8 * drive * outside_off + 0.5 * bounce,
        -1.3 + 1.5 * short * pull + 0.7 * sweep + 0.5 * drive * (1 - full),
    ], axis=1)
    gumbel = -np.log(-np.log(rng.uniform(1e-9, 1.0, logits.shape)))
    y = np.argmax(logits + 0.9 * gumbel, axis=1)

    num = np.stack([sp, line / 0.18, (length - 6.0) / 2.3, swing / 1.2,
                    seam / 0.8, (bounce - 0.87) / 0.1], axis=1)
    x = np.concatenate([num, np.eye(4)[shot]], axis=1).astype(np.float32)
    return x, y.astype(np.int32)


# ------------------------------------------------------- 1.5-entmax loss
def entmax15(z):
    """Exact sort-based 1.5-entmax over the last axis (Peters et al. 2019)."""
    z = z / 2.0
    z = z - mx.max(z, axis=-1, keepdims=True)
    zs = mx.sort(z, axis=-1)[..., ::-1]
    k = mx.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    mean = mx.cumsum(zs, axis=-1) / k
    mean_sq = mx.cumsum(zs * zs, axis=-1) / k
    delta = (1.0 - k * (mean_sq - mean * mean)) / k
    tau = mean - mx.sqrt(mx.maximum(delta, 0.0))
    support = mx.sum((tau <= zs).astype(mx.int32), axis=-1, keepdims=True)
    tau_star = mx.take_along_axis(tau, support - 1, axis=-1)
    return mx.square(mx.maximum(z - tau_star, 0.0))


@mx.custom_function
def entmax15_loss(z, onehot):
    """Fenchel-Young loss of 1.5-entmax, one value per row (>= 0)."""
    p = entmax15(z)
    tsallis = mx.sum(p - p * mx.sqrt(p), axis=-1) / 0.75
    return mx.sum((p - onehot) * z, axis=-1) + tsallis


@entmax15_loss.vjp
def entmax15_loss_vjp(primals, cotangent, output):
    z, onehot = primals
    p = entmax15(z)
    return cotangent[..., None] * (p - onehot), mx.zeros_like(onehot)


def fd_check():
    rng = np.random.default_rng(3)
    z = mx.array(rng.normal(0, 1.5, (4, 5)).astype(np.float32))
    oh = mx.array(np.eye(5, dtype=np.float32)[[0, 2, 4, 1]])
    f = lambda a: mx.sum(entmax15_loss(a, oh))
    g = np.array(mx.grad(f)(z))
    zn = np.array(z).astype(np.float64)
    worst, h = 0.0, 1e-2
    for i in range(4):
        for j in range(5):
            zp, zm = zn.copy(), zn.copy()
            zp[i, j] += h
            zm[i, j] -= h
            num = (f(mx.array(zp.astype(np.float32))).item()
                   - f(mx.array(zm.astype(np.float32))).item()) / (2 * h)
            worst = max(worst, abs(num - g[i, j]))
    return worst


# ------------------------------------------------------------ model
class WicketNet(nn.Module):
    def __init__(self, d_in=10, width=64, n_out=5):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def batch_loss(model, x, onehot):
    return mx.mean(entmax15_loss(model(x), onehot))


def evaluate(model, x, y, onehot):
    z = model(x)
    loss = mx.mean(entmax15_loss(z, onehot))
    p = entmax15(z)
    acc = mx.mean((mx.argmax(z, axis=-1) == y).astype(mx.float32))
    support = mx.mean(mx.sum((p > 0).astype(mx.float32), axis=-1))
    hit = mx.mean(mx.take_along_axis(p, y[:, None], axis=-1) > 0)
    mx.eval(loss, acc, support, hit)
    return loss.item(), 100 * acc.item(), support.item(), 100 * hit.item()


def ascii_chart(values, height=8, label=""):
    lo, hi = min(values), max(values)
    rows = []
    for r in range(height, -1, -1):
        level = lo + (hi - lo) * r / height
        line = "".join("*" if abs(v - level) <= (hi - lo) / (2 * height) else " "
                       for v in values)
        rows.append(f"{level:8.4f} |{line}")
    rows.append(" " * 9 + "+" + "-" * len(values))
    rows.append(" " * 10 + label)
    return "\n".join(rows)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(2024)
    xtr, ytr = make_deliveries(12000, rng)
    xva, yva = make_deliveries(3000, rng)
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)
    OHtr = mx.array(np.eye(5, dtype=np.float32)[ytr])
    OHva = mx.array(np.eye(5, dtype=np.float32)[yva])

    fd_err = fd_check()

    mx.random.seed(11)
    model = WicketNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3, bias_correction=True)
    step_fn = nn.value_and_grad(model, batch_loss)

    # gradient audit on the very first batch (before any update)
    _, g0 = step_fn(model, Xtr[:128], OHtr[:128])
    leaves = tree_flatten(g0)
    nonzero = sum(1 for _, g in leaves if mx.max(mx.abs(g)).item() > 0)

    untrained = evaluate(model, Xva, Yva, OHva)
    history = []
    bs, epochs = 128, 18
    n = xtr.shape[0]
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        run, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = step_fn(model, Xtr[idx], OHtr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            cnt += 1
        history.append((ep, run / cnt) + evaluate(model, Xva, Yva, OHva))

    counts = np.bincount(ytr, minlength=5) / len(ytr)
    print("deliveries: 12000 train / 3000 val; class shares "
          + ", ".join(f"{c}={s:.1%}" for c, s in zip(CLASSES, counts)))
    print(f"entmax15 loss VJP vs finite differences: max abs diff {fd_err:.2e}")
    print(f"first-batch gradient: {nonzero}/{len(leaves)} leaves non-zero")
    print(f"untrained : val loss {untrained[0]:.4f}  acc {untrained[1]:.1f}%  "
          f"mean support {untrained[2]:.2f} classes  true class in support {untrained[3]:.1f}%")
    print()
    print("epoch  train_fy  val_fy   val_acc  support  true_in_support")
    for ep, tr, vl, acc, sup, hit in history:
        print(f"{ep:5d}  {tr:8.4f}  {vl:7.4f}  {acc:6.1f}%  {sup:7.2f}  {hit:14.1f}%")
    print()
    print("validation Fenchel-Young loss by epoch (lower is better):")
    print(ascii_chart([h[2] for h in history], label="epoch 1 .. %d" % epochs))
    print(f"done in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
