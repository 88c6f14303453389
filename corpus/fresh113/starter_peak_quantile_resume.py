"""Sourdough starter: hours from feeding to peak rise, as a 10/50/90 % quantile band.

Trained in two sittings: the first sitting writes a checkpoint (weights + Adam
state) to a temp folder, the second sitting rebuilds everything from scratch,
loads it and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

QUANTILES = (0.1, 0.5, 0.9)


def make_starters(n, rng):
    hydration = rng.uniform(0.6, 1.2, n)           # water / flour
    room_c = rng.uniform(17.0, 29.0, n)            # kitchen temperature
    ratio = rng.choice([1.0, 2.0, 3.0, 5.0], n)    # flour:starter at feeding
    rye = rng.uniform(0.0, 0.5, n)                 # rye share of the flour
    age_days = rng.uniform(5, 400, n)              # age of the culture
    fridge_h = rng.exponential(8.0, n)             # hours in the fridge before
    base = 6.0 * np.exp(-0.08 * (room_c - 23.0)) * (ratio / 2.0) ** 0.55
    base *= 1.0 - 0.35 * rye + 0.15 * (hydration - 0.9)
    base *= 1.0 + 0.6 * np.exp(-age_days / 25.0) + 0.01 * fridge_h
    # skewed noise, wider for young cultures
    spread = 0.10 + 0.20 * np.exp(-age_days / 60.0)
    hours = base * np.exp(spread * rng.gumbel(0.0, 1.0, n))
    X = np.stack([hydration, room_c, ratio, rye, np.log(age_days), fridge_h], 1)
    return X.astype(np.float32), hours.astype(np.float32)


class QuantileNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.GELU(),
                                  nn.Linear(width, width), nn.GELU())
        self.median = nn.Linear(width, 1)
        self.gaps = nn.Linear(width, 2)   # softplus gaps below / above median

    def __call__(self, x):
        h = self.body(x)
        m = self.median(h)
        g = nn.softplus(self.gaps(h))
        return mx.concatenate([m - g[:, :1], m, m + g[:, 1:]], axis=1)


def pinball(pred, y):
    q = mx.array(QUANTILES)
    err = y[:, None] - pred
    return mx.maximum(q * err, (q - 1.0) * err).mean()


def build(seed, lr):
    mx.random.seed(seed)
    model = QuantileNet(6)
    opt = optim.Adam(learning_rate=lr)
    return model, opt


def run_epochs(model, opt, X, y, epochs, first_epoch, rng, Xv, yv, stats, batch=128):
    loss_and_grad = nn.value_and_grad(model, lambda xb, yb: pinball(model(xb), yb))
    n = X.shape[0]
    for ep in range(first_epoch, first_epoch + epochs):
        order = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(order[s:s + batch])
            loss, grads = loss_and_grad(X[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        report(model, ep, tot / cnt, Xv, yv, stats)


def report(model, ep, train_loss, Xv, yv, stats):
    p = model((Xv - stats[0]) / stats[1]) * stats[2]
    y = yv * stats[2]
    val = pinball(p, y).item()
    inside = mx.logical_and(y >= p[:, 0], y <= p[:, 2]).astype(mx.float32).mean().item()
    width = (p[:, 2] - p[:, 0]).mean().item()
    head = ("Untrained, " if train_loss is None else
            f"After epoch {ep} the scaled training pinball loss was {train_loss:.4f}; ")
    print(head + f"on held-out starters the pinball loss "
          f"was {val:.3f} h, {100 * inside:.1f}% of peaks fell inside the "
          f"10-90 band (the target is 80%), and the band was {width:.2f} h wide on average.")


def save_checkpoint(folder, model, opt, epoch):
    mx.save_safetensors(os.path.join(folder, "weights.safetensors"),
                        dict(tree_flatten(model.parameters())))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, "adam.safetensors"), state,
                        metadata={"epoch": str(epoch)})


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "weights.safetensors"))
    state, meta = mx.load(os.path.join(folder, "adam.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    return int(meta["epoch"])


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    Xtr, ytr = make_starters(12000, rng)
    Xva, yva = make_starters(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    yscale = float(np.median(ytr))
    X = mx.array((Xtr - mu) / sd)
    y = mx.array(ytr / yscale)
    stats = (mx.array(mu), mx.array(sd), yscale)
    Xv, yv = mx.array(Xva), mx.array(yva / yscale)
    print(f"Simulated {len(ytr)} feedings for training and {len(yva)} for checking; "
          f"the median time to peak is {yscale:.2f} h.")

    model, opt = build(seed=3, lr=2e-3)
    _, g0 = nn.value_and_grad(model, lambda xb, yb: pinball(model(xb), yb))(X[:128], y[:128])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    print(f"Before training, {len(leaves) - len(dead)} of {len(leaves)} parameter tensors "
          f"receive a gradient{'' if not dead else ' (dead: ' + ', '.join(dead) + ')'}.")
    report(model, 0, None, Xv, yv, stats)

    with tempfile.TemporaryDirectory() as folder:
        print("First sitting: six epochs, then the checkpoint is written and everything is thrown away.")
        run_epochs(model, opt, X, y, 6, 1, rng, Xv, yv, stats)
        save_checkpoint(folder, model, opt, epoch=6)
        before = model((Xv - stats[0]) / stats[1])
        mx.eval(before)
        del model, opt

        model, opt = build(seed=99, lr=2e-3)
        model(X[:2])                      # fresh weights from another seed
        opt.init(model.trainable_parameters())
        done = load_checkpoint(folder, model, opt)
        after = model((Xv - stats[0]) / stats[1])
        drift = mx.abs(after - before).max().item()
        print(f"Second sitting: resumed after epoch {done} (Adam step {opt.state['step'].item()}), "
              f"largest prediction change after reloading is {drift:.2e}.")
        run_epochs(model, opt, X, y, 6, done + 1, rng, Xv, yv, stats)
    print(f"Finished in {time.time() - t0:.1f} s.")


if __name__ == "__main__":
    main()
