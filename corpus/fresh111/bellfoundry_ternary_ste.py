"""Bell foundry: will a freshly cast bell come out flat, in tune, or sharp?

Two models are trained one after the other on the same casting records:
a float reference MLP, then the same MLP with TERNARY hidden weights
({-a, 0, +a} per layer) for the foundry's tiny tuning controller.  The
ternary net keeps float "latent" weights and trains them through a
straight-through estimator (mx.stop_gradient).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
CLASSES = ("flat", "in_tune", "sharp")


def casting_records(n):
    diameter = rng.uniform(0.3, 1.5, n)        # m
    lip = rng.uniform(0.06, 0.12, n)           # lip thickness / diameter
    tin = rng.uniform(0.20, 0.24, n)           # tin share of the bronze
    pour_t = rng.uniform(1080, 1180, n)        # deg C
    cool_h = rng.uniform(12, 72, n)
    moisture = rng.uniform(0.02, 0.08, n)      # loam mould moisture
    crown = rng.uniform(0.9, 1.1, n)           # crown profile factor
    ambient = rng.uniform(5, 30, n)
    # made-up deviation of the strike note (cents)
    cents = (180 * (lip - 0.09) / 0.03
             + 90 * (tin - 0.22) / 0.02
             - 0.5 * (pour_t - 1130)
             + 40 * np.tanh((24 - cool_h) / 12)
             - 600 * (moisture - 0.05)
             + 150 * (crown - 1.0) * diameter
             + rng.normal(0, 25, n))
    y = np.digitize(cents, [-30.0, 30.0])
    x = np.column_stack([diameter, lip, tin, pour_t, cool_h, moisture, crown, ambient])
    return x.astype(np.float32), y.astype(np.int32)


def ternarize(w):
    """Straight-through ternary weights: forward uses {-a,0,a}, backward is identity."""
    thr = 0.7 * mx.mean(mx.abs(w))
    mask = (mx.abs(w) > thr).astype(w.dtype)
    a = mx.sum(mx.abs(w) * mask) / mx.maximum(mx.sum(mask), 1.0)
    q = a * mx.sign(w) * mask
    return w + mx.stop_gradient(q - w)


class TernaryLinear(nn.Linear):
    def __call__(self, x):
        return x @ ternarize(self.weight).T + self.bias


class BellNet(nn.Module):
    def __init__(self, ternary):
        super().__init__()
        Lin = TernaryLinear if ternary else nn.Linear
        self.l1 = Lin(8, 64)
        self.l2 = Lin(64, 64)
        self.head = nn.Linear(64, 3)      # the head stays in float

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def zero_share(model):
    if not isinstance(model.l1, TernaryLinear):
        return float("nan")
    tot = zeros = 0
    for layer in (model.l1, model.l2):
        q = ternarize(layer.weight)
        zeros += int(mx.sum(q == 0).item())
        tot += q.size
    return 100.0 * zeros / tot


def fit(name, ternary, data, epochs=10, batch=100):
    xtr, ytr, xva, yva = data
    mx.random.seed(11)
    model = BellNet(ternary)
    mx.eval(model.parameters())
    sched = optim.step_decay(0.05, 0.3, 4 * (len(ytr) // batch))
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)

    print(f"# model={name}")
    print("model", "epoch", "lr", "train_ce", "val_ce", "val_err_pct", "zero_w_pct", "secs", sep="\t")
    t0 = time.time()
    first = True
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        tot, nb = 0.0, 0
        for s in range(0, len(perm), batch):
            idx = mx.array(perm[s:s + batch])
            loss, grads = vg(model, xtr[idx], ytr[idx])
            if first:
                dead = [k for k, g in tree_flatten(grads) if not mx.any(g != 0).item()]
                print(f"# {name}: first-step gradient missing for {dead if dead else 'no array'}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        logits = model(xva)
        vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        err = 100.0 * mx.mean(mx.argmax(logits, axis=1) != yva).item()
        lr = opt.learning_rate.item()
        print(name, ep, f"{lr:.4f}", f"{tot / nb:.4f}", f"{vce:.4f}", f"{err:.2f}",
              f"{zero_share(model):.1f}", f"{time.time() - t0:.1f}", sep="\t")
    return err


def main():
    xtr, ytr = casting_records(12000)
    xva, yva = casting_records(3000)
    mu, sd = xtr.mean(0), xtr.std(0)
    data = (mx.array((xtr - mu) / sd), mx.array(ytr), mx.array((xva - mu) / sd), mx.array(yva))
    counts = np.bincount(ytr, minlength=3) / len(ytr)
    print("# class shares: " + ", ".join(f"{c} {100 * p:.1f}%" for c, p in zip(CLASSES, counts)))
    print(f"# majority-class error: {100 * (1 - counts.max()):.2f}%")
    e_float = fit("float", False, data)
    e_tern = fit("ternary", True, data)
    print(f"# done: float val error {e_float:.2f}%, ternary val error {e_tern:.2f}%")


if __name__ == "__main__":
    main()
