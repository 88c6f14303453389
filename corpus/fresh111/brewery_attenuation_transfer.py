"""Brewery QA: predict apparent attenuation (%) of a fermentation from the
wort/pitch records.  Lots of history for our ale yeast, very little for the
new lager strain, so: pre-train on ales, save the trunk, then re-load the
trunk into a fresh model, freeze it and fit only a new head on the lagers
(with a learning-rate warm-up from zero so the new head starts gently).
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["original_gravity", "mash_temp", "pitch_rate", "ferm_temp",
            "oxygen_ppm", "yeast_generation", "sugar_adjunct_pct"]


def brew_records(rng, n, strain):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    og, mash, pitch, temp, oxy, gen, sugar = x.T
    base = 76.0 - 3.5 * mash + 2.0 * np.tanh(pitch) + 1.5 * oxy - 0.8 * gen ** 2 \
        + 2.2 * sugar - 1.2 * og * mash
    if strain == "ale":
        att = base + 2.5 * np.tanh(temp)
    else:  # lager: colder, slower, temperature matters more and differently
        att = base - 4.0 + 4.0 * np.tanh(1.5 * temp) - 1.0 * temp ** 2
    att = att + rng.normal(scale=1.0, size=n)
    return x, att.astype(np.float32)[:, None]


class AttenuationNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.trunk(x))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_pct(model, x, y):
    return math.sqrt(mse(model, x, y).item())


def check_first_grads(model, x, y, label):
    _, g = nn.value_and_grad(model, mse)(model, x, y)
    flat = tree_flatten(g)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    assert not dead, f"{label}: zero gradient for {dead}"
    print(f"[{label}] first-step gradient is non-zero on all {len(flat)} trainable tensors.")


def fit(model, opt, x, y, xv, yv, epochs, batch, rng, label, report_every):
    step = nn.value_and_grad(model, mse)
    n = len(x)
    for ep in range(1, epochs + 1):
        order = rng.permutation(n)
        total, seen = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(order[i:i + batch])
            loss, grads = step(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.trainable_parameters(), opt.state, loss)
            total += loss.item() * batch
            seen += batch
        if ep % report_every == 0 or ep == 1:
            lr = opt.learning_rate.item()
            print(f"{label}, epoch {ep}: the training RMSE was {math.sqrt(total / seen):.3f} "
                  f"attenuation points and the held-out RMSE is {rmse_pct(model, xv, yv):.3f} "
                  f"(learning rate now {lr:.2e}).")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    t0 = time.time()

    xa, ya = brew_records(rng, 6000, "ale")
    xl, yl = brew_records(rng, 400, "lager")
    xlv, ylv = brew_records(rng, 1000, "lager")
    mu, sd = xa.mean(0), xa.std(0)
    y_mu = float(ya.mean())
    norm = lambda a: mx.array((a - mu) / sd)
    xa_m, xl_m, xlv_m = norm(xa), norm(xl), norm(xlv)
    ya_m, yl_m, ylv_m = (mx.array(v - y_mu) for v in (ya, yl, ylv))
    xav, yav = xa_m[:1000], ya_m[:1000]
    xa_m, ya_m = xa_m[1000:], ya_m[1000:]

    print(f"We have {xa_m.shape[0]} ale brews for pre-training and only {xl_m.shape[0]} "
          f"lager brews (plus {xlv_m.shape[0]} held out) for the new strain.")
    print(f"Predicting the mean alone gives a lager RMSE of {float(np.std(ylv)):.3f} points.")

    # Stage 1: pre-train everything on the ale history.
    ale = AttenuationNet(len(FEATURES))
    mx.eval(ale.parameters())
    check_first_grads(ale, xa_m[:256], ya_m[:256], "ale pre-training")
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 20 * 39, end=1e-4))
    fit(ale, opt, xa_m, ya_m, xav, yav, epochs=20, batch=128, rng=rng,
        label="Ale pre-training", report_every=5)
    print(f"Straight transfer of the ale model to lagers: held-out RMSE "
          f"{rmse_pct(ale, xlv_m, ylv_m):.3f}.")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ale_trunk.safetensors")
        ale.trunk.save_weights(path)

        # Stage 2: fresh model, trunk from the file, frozen; only the new head learns.
        lager = AttenuationNet(len(FEATURES))
        lager.trunk.load_weights(path, strict=True)
    lager.trunk.freeze()
    mx.eval(lager.parameters())
    trunk_before = {k: np.array(v) for k, v in tree_flatten(lager.trunk.parameters())}
    n_train = sum(v.size for _, v in tree_flatten(lager.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(lager.parameters()))
    print(f"Lager model: {n_train} of {n_all} parameters are trainable (the head); "
          f"the trunk is frozen.")
    print(f"Before fitting the new head, its lager RMSE is {rmse_pct(lager, xlv_m, ylv_m):.3f}.")
    check_first_grads(lager, xl_m[:64], yl_m[:64], "lager head")

    steps_per_epoch = 400 // 32
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, warm),
         optim.cosine_decay(1e-2, 60 * steps_per_epoch - warm, end=1e-4)], [warm])
    opt2 = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    fit(lager, opt2, xl_m, yl_m, xlv_m, ylv_m, epochs=60, batch=32, rng=rng,
        label="Lager head", report_every=10)

    changed = [k for k, v in tree_flatten(lager.trunk.parameters())
               if not np.array_equal(trunk_before[k], np.array(v))]
    assert not changed, changed
    print(f"The frozen trunk is bit-for-bit what we loaded. Final lager RMSE "
          f"{rmse_pct(lager, xlv_m, ylv_m):.3f} points; finished in {time.time() - t0:.1f} s.")


if __name__ == "__main__":
    main()
