"""Cider fermentation: final ABV (%) from must measurements.

Stage 1 trains a full model on a large log from cidery A (compiled Adam step,
no output until it is finished). The weights are saved to a temp folder.
Stage 2 loads them into a fresh model for cidery B, whose hydrometers read a
little differently, freezes the feature layers on purpose and trains only the
output head with a hand-written momentum SGD over the trainable parameters.
Progress is printed as one JSON object per line.
"""
import json
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

NOISE_ABV = 0.12


def emit(**kw):
    print(json.dumps(kw, sort_keys=False))


def make_must(n, rng, cidery):
    og = rng.uniform(1.040, 1.075, n)              # original gravity
    ph = rng.uniform(3.2, 4.0, n)
    temp = rng.uniform(10.0, 22.0, n)              # fermentation temperature C
    yan = rng.uniform(60.0, 250.0, n)              # yeast assimilable nitrogen mg/L
    days = rng.uniform(14.0, 60.0, n)
    wild = (rng.uniform(size=n) < 0.3).astype(np.float64)
    done = 1.0 / (1.0 + np.exp(-(days - 10.0 - 80.0 / (yan / 40.0 + 1.0)) / (4.0 + 0.2 * (22.0 - temp))))
    atten = (0.78 + 0.08 * wild - 0.1 * np.clip(3.5 - ph, 0, None)) * done
    abv = (og - 1.0) * 131.25 * atten
    y = abv + rng.normal(0.0, NOISE_ABV, n)
    if cidery == "B":
        og_read = og + 0.002                       # hydrometer offset at cidery B
        y = y * 0.97 + 0.1
    else:
        og_read = og
    x = np.stack([(og_read - 1.0) * 1000.0, ph, temp, yan / 100.0, days / 10.0, wild], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class CiderNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(d_in, width), nn.GELU(), nn.Linear(width, width), nn.GELU()
        )
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.features(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def rmse(model, x, y):
    return float(mx.sqrt(mse(model, x, y)).item())


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    xa, ya = make_must(20000, rng, "A")
    xb, yb = make_must(600, rng, "B")
    xb_te, yb_te = make_must(3000, rng, "B")
    mu, sd = xa.mean(0), xa.std(0) + 1e-6
    norm = lambda a: mx.array((a - mu) / sd)
    XA, YA = norm(xa), mx.array(ya)
    XB, YB = norm(xb), mx.array(yb)
    XBt, YBt = norm(xb_te), mx.array(yb_te)
    emit(event="data", cidery_a=int(XA.shape[0]), cidery_b_train=int(XB.shape[0]),
         cidery_b_test=int(XBt.shape[0]), noise_abv=NOISE_ABV)

    # ---------------- stage 1: full model on cidery A, silent ----------------
    t0 = time.perf_counter()
    base = CiderNet()
    mx.eval(base.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    lg = nn.value_and_grad(base, mse)
    state = [base.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = lg(base, x, y)
        opt.update(base, grads)
        return loss

    first = nn.value_and_grad(base, mse)(base, XA[:128], YA[:128])[1]
    g_leaves = tree_flatten(first)
    zero_a = [k for k, g in g_leaves if float(mx.abs(g).max().item()) == 0.0]
    bs = 128
    for epoch in range(8):
        perm = mx.array(rng.permutation(XA.shape[0]))
        for i in range(XA.shape[0] // bs):
            idx = perm[i * bs:(i + 1) * bs]
            loss = step(XA[idx], YA[idx])
            mx.eval(state, loss)
    emit(event="stage1_done", leaves=len(g_leaves), zero_grad_leaves=zero_a,
         cidery_a_rmse=round(rmse(base, XA[:3000], YA[:3000]), 4),
         cidery_b_test_rmse_before_tuning=round(rmse(base, XBt, YBt), 4),
         secs=round(time.perf_counter() - t0, 2))

    ckpt_dir = tempfile.mkdtemp(prefix="cider_")
    path = os.path.join(ckpt_dir, "cidery_a.safetensors")
    base.save_weights(path)
    del base, opt, state

    # ---------------- stage 2: head-only fine-tune for cidery B ----------------
    model = CiderNet()
    model.load_weights(path)
    model.features.freeze()
    frozen_before = tree_map(lambda p: mx.array(p), model.features.parameters())
    mx.eval(frozen_before)
    emit(event="loaded", trainable=[k for k, _ in tree_flatten(model.trainable_parameters())],
         cidery_b_test_rmse=round(rmse(model, XBt, YBt), 4))

    lr, momentum = 0.004, 0.9
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    tune_lg = nn.value_and_grad(model, mse)
    bs2, it = 32, 0
    for epoch in range(1, 31):
        perm = rng.permutation(XB.shape[0])
        run = []
        for i in range(XB.shape[0] // bs2):
            idx = mx.array(perm[i * bs2:(i + 1) * bs2])
            loss, grads = tune_lg(model, XB[idx], YB[idx])
            if it == 0:
                zero_b = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max().item()) == 0.0]
                emit(event="first_tune_step", grad_leaves=[k for k, _ in tree_flatten(grads)],
                     zero_grad_leaves=zero_b)
            velocity = tree_map(lambda v, g: momentum * v + g, velocity, grads)
            new_params = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
            model.update(new_params)
            mx.eval(model.trainable_parameters(), velocity, loss)
            run.append(loss.item())
            it += 1
        if epoch in (1, 2, 5, 10, 20, 30):
            emit(event="tune", epoch=epoch, iters=it, train_mse=round(float(np.mean(run)), 5),
                 cidery_b_test_rmse=round(rmse(model, XBt, YBt), 4))

    drift = max(float(mx.abs(a - b).max().item()) for (_, a), (_, b) in
                zip(tree_flatten(frozen_before), tree_flatten(model.features.parameters())))
    emit(event="done", frozen_feature_max_change=drift, cidery_b_test_rmse=round(rmse(model, XBt, YBt), 4),
         noise_abv=NOISE_ABV)
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
