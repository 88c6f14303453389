"""Candle burn rate (g/h) from pour-sheet data, then recalibration for a new shop.

Phase 1 (silent): an MLP is trained on 10k candles from the main workshop with
AdamW and saved with save_weights.
Phase 2: a second workshop weighs its candles on a scale that reads a bit high
and has a draughtier test room.  The saved model is loaded into a new object,
its body is frozen on purpose, and only the head is re-fitted on 600 candles
with a hand-written Adagrad over tree_map.  Epoch 1 of phase 2 runs at lr 0:
it only fills the Adagrad accumulators so the first real steps are not huge.

Reports are YAML documents, one per phase-2 epoch.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["wick_mm", "diameter_cm", "beeswax_share", "soy_share",
            "fragrance_pct", "draft_m_s"]


def pour_sheets(rng, n, scale_bias=0.0, draft_shift=0.0):
    wick = rng.uniform(2.0, 6.0, n)
    diam = rng.uniform(4.0, 12.0, n)
    bees = rng.uniform(0.0, 1.0, n)
    soy = rng.uniform(0.0, 1.0 - bees)
    frag = rng.uniform(0.0, 10.0, n)
    draft = np.abs(rng.normal(0.2 + draft_shift, 0.15, n))
    # made-up law: wider wick and pool burn faster, beeswax slower, draughts flare
    rate = (1.2 * wick ** 1.3 * (0.6 + 0.05 * diam) * (1.0 - 0.35 * bees)
            * (1.0 + 0.15 * soy) * (1.0 + 0.02 * frag) * (1.0 + 0.9 * draft ** 2))
    rate = rate * np.exp(rng.normal(0.0, 0.04, n)) + scale_bias
    X = np.stack([wick, diam, bees, soy, frag, draft], axis=1).astype(np.float32)
    return X, rate.astype(np.float32)[:, None]


class BurnNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.body(x))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def grad_audit(grads):
    flat = tree_flatten(grads)
    dead = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
    return len(flat), dead


def batches(rng, n, bs):
    order = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(order[i:i + bs])


def rmse_gph(model, X, y, y_std):
    err = (model(X) - y) * y_std
    return float(mx.sqrt(mx.mean(err * err)).item())


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    t0 = time.perf_counter()

    Xa, ya = pour_sheets(rng, 10000)
    Xb, yb = pour_sheets(rng, 600, scale_bias=0.8, draft_shift=0.1)
    Xb_test, yb_test = pour_sheets(rng, 3000, scale_bias=0.8, draft_shift=0.1)

    # standardise with the main workshop's statistics, for both shops
    mu, sd = Xa.mean(0), Xa.std(0)
    y_mu, y_sd = float(ya.mean()), float(ya.std())
    prep = lambda X, y: (mx.array((X - mu) / sd), mx.array((y - y_mu) / y_sd))
    Xa_m, ya_m = prep(Xa, ya)
    Xb_m, yb_m = prep(Xb, yb)
    Xt_m, yt_m = prep(Xb_test, yb_test)

    # ---- phase 1: silent pre-training on the main workshop -------------
    base = BurnNet()
    mx.eval(base.parameters())
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 8 * 78, 1e-4),
                      weight_decay=1e-4)
    vg = nn.value_and_grad(base, mse)
    first = True
    for epoch in range(8):
        for idx in batches(rng, len(Xa), 128):
            loss, grads = vg(base, Xa_m[idx], ya_m[idx])
            if first:
                n1, dead1 = grad_audit(grads)
                first = False
            opt.update(base, grads)
            mx.eval(base.parameters(), opt.state, loss)

    tmp = tempfile.mkdtemp(prefix="burnnet_")
    ckpt = os.path.join(tmp, "main_shop.safetensors")
    base.save_weights(ckpt)
    rmse_main_new_shop = rmse_gph(base, Xt_m, yt_m, y_sd)

    # ---- phase 2: head-only recalibration for the second shop ----------
    model = BurnNet()
    model.load_weights(ckpt)
    shutil.rmtree(tmp)
    model.body.freeze()
    body_before = [np.array(v) for _, v in tree_flatten(model.body.parameters())]

    def lr_at(epoch):
        return 0.0 if epoch == 1 else 0.03

    accum = tree_map(mx.zeros_like, model.trainable_parameters())
    vg2 = nn.value_and_grad(model, mse)

    print("---")
    print("doc: setup")
    print(f"features: [{', '.join(FEATURES)}]")
    print(f"pretrain_gradients: {{leaves: {n1}, all_zero: {dead1 or '[]'}}}")
    print(f"checkpoint: {os.path.basename(ckpt)}")
    print(f"trainable_after_freeze: [{', '.join(k for k, _ in tree_flatten(model.trainable_parameters()))}]")
    print(f"new_shop_test_rmse_g_per_h_before: {rmse_main_new_shop:.4f}")
    print(f"target_spread_g_per_h: {float(yb_test.std()):.4f}")

    first = True
    for epoch in range(1, 13):
        lr = lr_at(epoch)
        losses = []
        for idx in batches(rng, len(Xb), 32):
            loss, grads = vg2(model, Xb_m[idx], yb_m[idx])
            if first:
                n2, dead2 = grad_audit(grads)
                print(f"finetune_gradients: {{leaves: {n2}, all_zero: {dead2 or '[]'}}}")
                first = False
            accum = tree_map(lambda a, g: a + g * g, accum, grads)
            new_params = tree_map(
                lambda p, g, a: p - lr * g / (mx.sqrt(a) + 1e-8),
                model.trainable_parameters(), grads, accum)
            model.update(new_params)
            mx.eval(model.trainable_parameters(), accum, loss)
            losses.append(loss.item())
        print("---")
        print("doc: epoch")
        print(f"epoch: {epoch}")
        print(f"lr: {lr}")
        print(f"train_mse_std_units: {np.mean(losses):.5f}")
        print(f"test_rmse_g_per_h: {rmse_gph(model, Xt_m, yt_m, y_sd):.4f}")
        print(f"elapsed_s: {time.perf_counter() - t0:.1f}")

    body_after = [np.array(v) for _, v in tree_flatten(model.body.parameters())]
    drift = max(float(np.max(np.abs(a - b))) for a, b in zip(body_before, body_after))
    print("---")
    print("doc: done")
    print(f"frozen_body_max_change: {drift}")
    print(f"final_test_rmse_g_per_h: {rmse_gph(model, Xt_m, yt_m, y_sd):.4f}")
    print("...")


if __name__ == "__main__":
    main()
