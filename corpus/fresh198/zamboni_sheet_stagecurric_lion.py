"""Ice-rink resurfacing log: predict the sheet's surface hardness (Shore C units)
ten minutes after a resurfacing pass, from synthetic machine/rink readings.

Two-stage curriculum: stage "calm" uses only mid-season, low-humidity nights;
stage "full" then adds humid summer-camp nights and heavy flood passes (a harder,
noisier distribution), so the loss jumps when the stage changes and then falls
again. Each stage restarts its epoch counter and ramps the LR up from exactly 0.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("resurfacer")

FEATURES = ["water_C", "litres", "blade_mm", "humidity_pct", "brine_C", "passes_today", "crowd_k"]


def make_rink_nights(rng, n, humid):
    water = rng.uniform(50, 70, n)
    litres = rng.uniform(400, 900, n) if humid else rng.uniform(400, 650, n)
    blade = rng.uniform(0.5, 3.0, n)
    hum = rng.uniform(55, 90, n) if humid else rng.uniform(25, 50, n)
    brine = rng.uniform(-12, -6, n)
    passes = rng.integers(1, 9, n).astype(np.float64)
    crowd = rng.uniform(0, 12, n)
    hard = (
        78.0
        - 1.6 * (brine + 9.0)
        - 0.012 * (litres - 550.0)
        - 0.09 * (hum - 40.0)
        - 0.04 * (hum - 40.0) * (litres - 550.0) / 100.0
        + 2.5 * np.tanh(blade - 1.5)
        - 0.35 * passes
        + 0.05 * (water - 60.0)
        - 0.3 * crowd
    )
    hard += rng.normal(0, 0.8 if not humid else 1.6, n)
    X = np.stack([water, litres, blade, hum, brine, passes, crowd], axis=1)
    return X.astype(np.float32), hard.astype(np.float32)


class HardnessNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def main():
    rng = np.random.default_rng(7)
    Xc, yc = make_rink_nights(rng, 3000, humid=False)
    Xh, yh = make_rink_nights(rng, 3000, humid=True)
    Xv = np.concatenate([Xc[-300:], Xh[-300:]])
    yv = np.concatenate([yc[-300:], yh[-300:]])
    Xc, yc, Xh, yh = Xc[:-300], yc[:-300], Xh[:-300], yh[:-300]

    mu, sd = Xc.mean(0), Xc.std(0)  # scaler fitted on the calm stage only
    y_mu, y_sd = float(yc.mean()), float(yc.std())
    norm = lambda X: mx.array((X - mu) / sd)
    Xv_m, yv_m = norm(Xv), mx.array(yv)
    baseline_mae = float(np.abs(yv - y_mu).mean())

    mx.random.seed(7)
    model = HardnessNet(len(FEATURES))
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        pred = m(xb)
        return nn.losses.huber_loss(pred, (yb - y_mu) / y_sd, delta=1.0, reduction="mean")

    grad_fn = nn.value_and_grad(model, loss_fn)

    # one-off gradient audit: every weight should receive signal
    _, g0 = grad_fn(model, norm(Xc[:64]), mx.array(yc[:64]))
    from mlx.utils import tree_flatten
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), dead or "none")

    stages = [("calm", Xc, yc, 8, 1e-3), ("full", np.concatenate([Xc, Xh]), np.concatenate([yc, yh]), 10, 6e-4)]
    batch = 64
    for stage_name, Xs, ys, epochs, peak_lr in stages:
        steps_per_epoch = len(Xs) // batch
        total = epochs * steps_per_epoch
        warm = steps_per_epoch  # one epoch of warmup from exactly 0
        k = 0
        Xs_m, ys_m = norm(Xs), mx.array(ys)
        for ep in range(1, epochs + 1):
            perm = mx.array(rng.permutation(len(Xs)))
            run = 0.0
            p_before = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(model.parameters())])
            for i in range(steps_per_epoch):
                if k < warm:
                    lr = peak_lr * k / warm
                else:
                    lr = peak_lr * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
                opt.learning_rate = lr
                idx = perm[i * batch:(i + 1) * batch]
                loss, grads = grad_fn(model, Xs_m[idx], ys_m[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run += loss.item()
                k += 1
            p_after = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(model.parameters())])
            drift = float(mx.linalg.norm(p_after - p_before))
            pred = model(Xv_m) * y_sd + y_mu
            err = pred - yv_m
            mae = float(mx.abs(err).mean())
            r2 = 1.0 - float((err * err).mean()) / float(np.var(yv))
            log.info(
                "stage=%s ep=%02d/%02d huber=%.4f val_mae=%.2f ShoreC (mean-baseline %.2f) R2=%.1f%% lr_end=%.2e |dtheta|=%.3f",
                stage_name, ep, epochs, run / steps_per_epoch, mae, baseline_mae, 100 * r2, lr, drift,
            )
    log.info("finished: val_mae=%.2f ShoreC vs baseline %.2f", mae, baseline_mae)


if __name__ == "__main__":
    main()
