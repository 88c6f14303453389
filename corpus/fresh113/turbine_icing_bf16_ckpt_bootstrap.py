"""Wind farm: is a turbine blade clean, rime-iced or glaze-iced?

Ten 10-minute SCADA summaries per sample (power-curve deficit, rotor speed, pitch angle,
nacelle temperature, ambient temperature, humidity, wind speed, nacelle vibration RMS,
tower acceleration, one pure-noise channel); the law below is made up.

Weights are kept in float32 (master copy); the matmuls run in bfloat16 (each linear layer
casts its own weights and input to bf16), LayerNorm and the loss run in float32. The residual
blocks are wrapped in nn.utils.checkpoint (activations recomputed in the backward pass).
After training each epoch a bootstrap evaluation (2000 resamples of the test set) runs
silently before its line is printed. Loss is reported in bits per sample.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ("clean", "rime", "glaze")
T0 = time.perf_counter()


def say(msg):
    el = int(time.perf_counter() - T0)
    sys.stdout.write(f"[{el // 60:02d}:{el % 60:02d}] {msg}\n")
    sys.stdout.flush()


def simulate(n, rng):
    y = rng.choice(3, size=n, p=[0.55, 0.27, 0.18])
    amb = rng.normal(-1.0, 4.0, n) - 1.0 * (y > 0)
    hum = np.clip(rng.normal(80, 10, n) + 4 * (y > 0), 30, 100)
    wind = rng.gamma(4.0, 2.2, n)
    deficit = 0.05 * rng.normal(size=n) + 0.06 * (y == 1) + 0.10 * (y == 2) * (1 + 0.02 * wind)
    rotor = 9 + 0.6 * wind - 1.5 * deficit * wind / 5 + rng.normal(0, 0.6, n)
    pitch = np.maximum(0, wind - 11) * 2.1 - 3 * deficit + rng.normal(0, 0.8, n)
    nac_t = amb + 6 + rng.normal(0, 1.5, n)
    vib = 0.3 + 0.08 * (y == 2) * np.sqrt(wind) / 3 + 0.02 * (y == 1) + rng.gamma(2, 0.05, n)
    tower = 0.1 + 0.5 * vib * rng.uniform(0.6, 1.4, n)
    noise = rng.normal(size=n)
    X = np.stack([deficit, rotor, pitch, nac_t, amb, hum, wind, vib, tower, noise], 1)
    return X.astype(np.float32), y.astype(np.int32)


class BF16Linear(nn.Linear):
    """nn.Linear whose float32 master weights are cast to bfloat16 for the matmul."""

    def __call__(self, x):
        y = x.astype(mx.bfloat16) @ self.weight.astype(mx.bfloat16).T
        return y + self.bias.astype(mx.bfloat16)


class Block(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.up = BF16Linear(d, hidden)
        self.down = BF16Linear(hidden, d)

    def __call__(self, x):
        h = self.norm(x.astype(mx.float32))          # normalisation statistics in float32
        return x + self.down(nn.silu(self.up(h)))


class IcingNet(nn.Module):
    def __init__(self, d_in, d=48, n_blocks=3, n_cls=3):
        super().__init__()
        self.stem = BF16Linear(d_in, d)
        self.blocks = [Block(d, 2 * d) for _ in range(n_blocks)]
        self.head = BF16Linear(d, n_cls)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = nn.utils.checkpoint(blk)(h)
        return self.head(h).astype(mx.float32)       # logits back to float32 for the loss


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def bootstrap_error(pred, y, rng, n_boot=2000):
    n = len(y)
    errs = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        errs[b] = np.mean(pred[idx] != y[idx])
    return 100 * np.mean(pred != y), 100 * np.percentile(errs, 2.5), 100 * np.percentile(errs, 97.5)


def main():
    rng = np.random.default_rng(2029)
    mx.random.seed(2029)
    Xtr, ytr = simulate(12000, rng)
    Xte, yte = simulate(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr_m = mx.array((Xtr - mu) / sd)
    Xte_m = mx.array((Xte - mu) / sd)
    ytr_m = mx.array(ytr)

    model = IcingNet(10)
    sched = optim.step_decay(3e-3, 0.4, 4 * (12000 // 96))
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    shares = np.bincount(ytr, minlength=3) / len(ytr)
    ent = -np.sum(shares * np.log2(shares))
    say(f"train {len(ytr)} / test {len(yte)}  class shares " +
        ", ".join(f"{c} {100 * s:.1f}%" for c, s in zip(CLASSES, shares)) +
        f"  (prior entropy {ent:.3f} bits, majority error {100 * (1 - shares.max()):.1f}%)")

    l0, g0 = vg(model, Xtr_m[:96], ytr_m[:96])
    leaves = tree_flatten(g0)
    zero = [k for k, g in leaves if float(mx.abs(g.astype(mx.float32)).max()) == 0.0]
    dtypes = {str(g.dtype) for _, g in leaves}
    say(f"grad check: {len(leaves)} leaves, zero leaves {zero or 'none'}, grad dtypes {sorted(dtypes)}, "
        f"step-0 loss {l0.item() / math.log(2):.3f} bits")

    eval_rng = np.random.default_rng(7)
    n, bs = Xtr_m.shape[0], 96
    for epoch in range(1, 11):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        logits = model(Xte_m)
        te_bits = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean").item() / math.log(2)
        pred = np.array(mx.argmax(logits, axis=1))
        err, lo, hi = bootstrap_error(pred, yte, eval_rng)
        say(f"epoch {epoch:2d} lr {opt.learning_rate.item():.2e} train {tot / cnt / math.log(2):.4f} bits/sample "
            f"test {te_bits:.4f} bits/sample  test error {err:.2f}% (95% CI {lo:.2f}-{hi:.2f}%)")

    dt = {str(v.dtype) for _, v in tree_flatten(model.parameters())}
    say(f"done: master weights dtype {sorted(dt)}")


if __name__ == "__main__":
    main()
