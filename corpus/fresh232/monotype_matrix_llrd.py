"""Hot-metal type casting: height deviation of cast sorts (micrometres).

Stage A fits a small SiLU network on a large casting log from the first
foundry (silent, one summary line).  Stage B re-uses that network on a small
log from a second foundry: fresh head, layer-wise learning-rate decay
(the deeper a layer sits from the head, the smaller its share of each Adam
step), decoupled weight decay on the weight matrices only, and a learning
rate that warms up from exactly 0.

Progress is written as web-server access-log lines, one request per report.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["antimony_pct", "tin_pct", "mould_c", "pump_spm", "point_size",
            "water_lpm", "room_c"]


def make_log(rng, n, foundry):
    sb = rng.uniform(10.0, 20.0, n)          # antimony %
    sn = rng.uniform(3.0, 9.0, n)            # tin %
    mould = rng.uniform(240.0, 330.0, n)     # mould temperature C
    pump = rng.uniform(60.0, 160.0, n)       # strokes per minute
    pt = rng.choice([6, 8, 10, 12, 14, 18, 24], n).astype(np.float64)
    water = rng.uniform(1.0, 4.0, n)         # cooling water l/min
    room = rng.uniform(8.0, 28.0, n)
    # made-up shrink law in micrometres
    dev = (-0.9 * (sb - 15.0) + 0.6 * (sn - 6.0) + 0.05 * (mould - 285.0)
           + 0.012 * (pump - 110.0) ** 2 / 10.0 + 0.35 * pt
           - 2.2 * np.log(water) + 0.08 * (room - 18.0)
           + 1.5 * np.sin((mould - 240.0) / 18.0))
    if foundry == "B":
        # older moulds: hotter side dominates, water matters more
        dev = dev + 0.03 * (mould - 285.0) - 1.1 * np.log(water) + 2.0
    dev = dev + rng.normal(0.0, 0.6, n)
    X = np.stack([sb, sn, mould, pump, pt, water, room], axis=1)
    return X.astype(np.float32), dev.astype(np.float32)


class Caster(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l0 = nn.Linear(d_in, width)
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l0(x))
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def access_line(path, status, nbytes, fields):
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    extra = " ".join(f"{k}={v}" for k, v in fields)
    print(f'10.0.0.7 - caster [{stamp}] "POST {path} HTTP/1.1" {status} '
          f'{nbytes} "-" "mlx-trainer/0.2" {extra}', flush=True)


def main():
    rng = np.random.default_rng(1907)
    mx.random.seed(1907)

    XA, yA = make_log(rng, 16000, "A")
    XB, yB = make_log(rng, 1500, "B")
    XBv, yBv = make_log(rng, 2000, "B")

    mu, sd = XA.mean(0), XA.std(0)
    ymu, ysd = float(yA.mean()), float(yA.std())

    def prep(X, y):
        return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)

    xa, ya = prep(XA, yA)
    xb, yb = prep(XB, yB)
    xv, yv = prep(XBv, yBv)

    model = Caster(len(FEATURES))
    mx.eval(model.parameters())

    # ---------------- stage A: silent pre-training ----------------
    opt_a = optim.Adam(learning_rate=2e-3)
    lg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(2000):
        idx = mx.array(rng.integers(0, xa.shape[0], 128))
        loss, grads = lg(model, xa[idx], ya[idx])
        opt_a.update(model, grads)
        mx.eval(model.parameters(), opt_a.state, loss)
    a_val = float(loss_fn(model, xa[:3000], ya[:3000])) ** 0.5 * ysd
    cold_b = float(mx.mean(mx.abs(model(xv) - yv))) * ysd
    access_line("/stage/A/done", 201, 96,
                [("steps", 2000), ("rmse_um", f"{a_val:.3f}"),
                 ("foundryB_mae_um_before", f"{cold_b:.3f}"),
                 ("secs", f"{time.time() - t0:.1f}")])

    # ---------------- stage B: fine-tune with layer-wise decay ----------------
    model.head = nn.Linear(64, 1)
    mx.eval(model.parameters())
    layer_scale = {"head": 1.0, "l2": 0.5, "l1": 0.25, "l0": 0.125}
    wd = 1e-2
    warm, total = 100, 800
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total - warm, 1e-5)], [warm])
    opt_b = optim.Adam(learning_rate=sched)

    start = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    mean_pred_mae = float(mx.mean(mx.abs(yv - mx.mean(yb)))) * ysd

    def finetune_step(x, y):
        loss, grads = lg(model, x, y)
        lr = sched(opt_b.step)
        params = model.parameters()
        stepped = opt_b.apply_gradients(grads, params)
        flat_old = dict(tree_flatten(params))
        new_flat = []
        for key, new in tree_flatten(stepped):
            old = flat_old[key]
            s = layer_scale[key.split(".")[0]]
            p = old + s * (new - old)
            if key.endswith("weight"):
                p = p - s * lr * wd * old
            new_flat.append((key, p))
        model.update(tree_unflatten(new_flat))
        return loss, grads, lr

    # first-step gradient audit (lr is exactly 0 on this step)
    idx = mx.array(rng.integers(0, xb.shape[0], 64))
    loss, grads, lr = finetune_step(xb[idx], yb[idx])
    mx.eval(model.parameters(), opt_b.state, loss)
    gnorms = [(k, float(mx.abs(g).max())) for k, g in tree_flatten(grads)]
    zero = [k for k, g in gnorms if g == 0.0]
    access_line("/stage/B/audit", 200 if not zero else 500, 64,
                [("leaves", len(gnorms)), ("zero_grad", len(zero)),
                 ("lr0", f"{float(lr):.1e}"),
                 ("max_grad", f"{max(g for _, g in gnorms):.3e}")])
    if zero:
        raise SystemExit(f"no gradient reaches {zero}")

    window = [float(loss)]
    t0 = time.time()
    for step in range(2, total + 1):
        idx = mx.array(rng.integers(0, xb.shape[0], 64))
        loss, grads, lr = finetune_step(xb[idx], yb[idx])
        mx.eval(model.parameters(), opt_b.state, loss)
        window.append(float(loss))
        if step in (2, 50) or step % 100 == 0:
            pred = model(xv)
            mae = float(mx.mean(mx.abs(pred - yv))) * ysd
            within = float(mx.mean(mx.abs(pred - yv) * ysd < 1.0)) * 100.0
            cur = dict(tree_flatten(model.parameters()))
            drift = {}
            for name in ("l0", "l1", "l2"):
                w0 = start[f"{name}.weight"]
                w = np.array(cur[f"{name}.weight"])
                drift[name] = np.linalg.norm(w - w0) / np.linalg.norm(w0)
            access_line(
                f"/stage/B/step/{step}?lr={float(lr):.3e}", 200, 128,
                [("train_mse_z", f"{np.mean(window):.4f}"),
                 ("val_mae_um", f"{mae:.3f}"),
                 ("meanpred_mae_um", f"{mean_pred_mae:.3f}"),
                 ("within_1um_pct", f"{within:.1f}"),
                 ("rel_move_l0", f"{drift['l0']:.2e}"),
                 ("rel_move_l1", f"{drift['l1']:.2e}"),
                 ("rel_move_l2", f"{drift['l2']:.2e}"),
                 ("secs", f"{time.time() - t0:.1f}")])
            window = []
    access_line("/stage/B/done", 201, 32,
                [("noise_floor_mae_um", f"{0.6 * (2 / np.pi) ** 0.5:.3f}")])


if __name__ == "__main__":
    main()
