"""Kipper smokehouse: final salt content of cold-smoked herring.

Random hyperparameter search (optimizer, learning rate, width, weight decay)
with a median stopping rule, then a refit of the chosen configuration on
train+valid with a warm-up from zero and a mid-run checkpoint/resume.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["fat_pct", "fillet_g", "brine_min", "brine_deg", "smoke_c",
            "smoke_h", "rel_hum", "airflow"]


def make_catch(n, rng):
    fat = rng.uniform(4, 22, n)
    mass = rng.uniform(90, 260, n)
    brine_min = rng.uniform(10, 60, n)
    brine_deg = rng.uniform(60, 95, n)          # salometer degrees
    smoke_c = rng.uniform(22, 32, n)
    smoke_h = rng.uniform(6, 18, n)
    hum = rng.uniform(55, 90, n)
    air = rng.uniform(0.5, 3.0, n)
    uptake = (brine_deg / 80.0) * np.sqrt(brine_min) / (mass / 150.0) ** 0.33
    uptake *= 1.0 - 0.018 * fat
    drying = 1.0 + 0.04 * smoke_h * air ** 0.5 * (1.0 - hum / 110.0) * (smoke_c / 27.0)
    salt = 0.42 * uptake * drying + rng.normal(0, 0.08, n)
    X = np.stack([fat, mass, brine_min, brine_deg, smoke_c, smoke_h, hum, air], 1)
    return X.astype(np.float32), salt.astype(np.float32)


class SaltNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.l1 = nn.Linear(len(FEATURES), width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build_optimizer(cfg, schedule=None):
    lr = schedule if schedule is not None else cfg["lr"]
    if cfg["opt"] == "adamw":
        return optim.AdamW(learning_rate=lr, weight_decay=cfg["wd"])
    return optim.SGD(learning_rate=lr, momentum=0.9, weight_decay=cfg["wd"])


def run_epoch(model, opt, step_fn, X, y, bs, rng):
    perm = mx.array(rng.permutation(X.shape[0]))
    total, n = 0.0, 0
    for i in range(0, X.shape[0], bs):
        idx = perm[i:i + bs]
        loss, grads = step_fn(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item() * idx.shape[0]
        n += idx.shape[0]
    return total / n


def sample_config(rng, k):
    opt = "adamw" if rng.random() < 0.5 else "sgd"
    lo, hi = (1e-4, 3e-2) if opt == "adamw" else (1e-3, 3.0)
    return {
        "trial": k,
        "opt": opt,
        "lr": float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
        "width": int(rng.choice([16, 32, 64, 96])),
        "wd": float(10 ** rng.uniform(-5, -2)),
    }


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    Xtr, ytr = make_catch(4000, rng)
    Xva, yva = make_catch(1000, rng)
    Xte, yte = make_catch(1000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = ytr.mean(), ytr.std()
    norm = lambda X: mx.array((X - mu) / sd)
    Xtr_m, Xva_m, Xte_m = norm(Xtr), norm(Xva), norm(Xte)
    ytr_m, yva_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
    base_mae = float(np.abs(yte - ymu).mean())
    print(f"catch: train {len(ytr)}  valid {len(yva)}  test {len(yte)}  "
          f"salt mean {ymu:.2f}%  sd {ysd:.2f}%")
    print(f"reference: predict-the-mean test MAE {base_mae:.3f} pct-points")

    EPOCHS, RUNGS, BS = 8, (2, 4, 6), 64
    search_rng = np.random.default_rng(19)
    history = {r: [] for r in RUNGS}
    finished = []
    print("\n trial | opt   |   lr     | width |   wd     | epoch | val_mse | status")
    print("-------+-------+----------+-------+----------+-------+---------+--------")
    for k in range(8):
        cfg = sample_config(search_rng, k)
        mx.random.seed(100 + k)
        model = SaltNet(cfg["width"])
        mx.eval(model.parameters())
        opt = build_optimizer(cfg)
        step_fn = nn.value_and_grad(model, mse)
        ep_rng = np.random.default_rng(500 + k)
        start = mse(model, Xva_m, yva_m).item()
        status, val = "done", start
        for ep in range(1, EPOCHS + 1):
            tr = run_epoch(model, opt, step_fn, Xtr_m, ytr_m, BS, ep_rng)
            val = mse(model, Xva_m, yva_m).item()
            if not math.isfinite(tr) or not math.isfinite(val) or val > 5 * start:
                status = "stopped (exploded)"
                shown = f"{val:7.3g}" if math.isfinite(val) else "   >1e9"
                print(f" {k:5d} | {cfg['opt']:5s} | {cfg['lr']:.2e} | {cfg['width']:5d} | "
                      f"{cfg['wd']:.2e} | {ep:5d} | {shown} | {status}")
                break
            if ep in RUNGS:
                peers = history[ep]
                history[ep].append(val)
                if len(peers) >= 2 and val > float(np.median(peers[:-1])):
                    status = f"pruned (median {np.median(peers[:-1]):.3f})"
                    print(f" {k:5d} | {cfg['opt']:5s} | {cfg['lr']:.2e} | {cfg['width']:5d} | "
                          f"{cfg['wd']:.2e} | {ep:5d} | {val:7.3f} | {status}")
                    break
        if status == "done":
            print(f" {k:5d} | {cfg['opt']:5s} | {cfg['lr']:.2e} | {cfg['width']:5d} | "
                  f"{cfg['wd']:.2e} | {ep:5d} | {val:7.3f} | done")
            finished.append((val, cfg))

    best_val, best = min(finished, key=lambda t: t[0])
    print(f"\nchosen: trial {best['trial']} ({best['opt']}, lr {best['lr']:.2e}, "
          f"width {best['width']}, wd {best['wd']:.1e}) valid mse {best_val:.3f} (std units)")

    # refit on train+valid from fresh weights
    Xall = mx.concatenate([Xtr_m, Xva_m])
    yall = mx.concatenate([ytr_m, yva_m])
    REFIT_EPOCHS = 14
    steps_per_epoch = math.ceil(Xall.shape[0] / BS)
    warm = steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, best["lr"], warm),
         optim.cosine_decay(best["lr"], REFIT_EPOCHS * steps_per_epoch - warm, best["lr"] * 0.02)],
        [warm])
    mx.random.seed(999)
    model = SaltNet(best["width"])
    mx.eval(model.parameters())
    opt = build_optimizer(best, sched)
    step_fn = nn.value_and_grad(model, mse)
    refit_rng = np.random.default_rng(77)
    print(f"refit: {REFIT_EPOCHS} epochs on {Xall.shape[0]} hauls, warm-up {warm} steps from lr 0")
    ckdir = tempfile.mkdtemp()
    for ep in range(1, REFIT_EPOCHS + 1):
        tr = run_epoch(model, opt, step_fn, Xall, yall, BS, refit_rng)
        if ep == REFIT_EPOCHS // 2:
            model.save_weights(os.path.join(ckdir, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            before = mse(model, Xte_m, mx.array((yte - ymu) / ysd)).item()
            model = SaltNet(best["width"])
            model.load_weights(os.path.join(ckdir, "model.safetensors"))
            opt = build_optimizer(best, sched)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, mse)
            after = mse(model, Xte_m, mx.array((yte - ymu) / ysd)).item()
            print(f"checkpoint at epoch {ep}: train mse {tr:.4f}, reloaded into a new model "
                  f"(test mse {before:.4f} -> {after:.4f}), step {int(opt.state['step'])}, "
                  f"lr {float(opt.learning_rate):.2e}")
    pred = np.array(model(Xte_m)) * ysd + ymu
    mae = float(np.abs(pred - yte).mean())
    within = float((np.abs(pred - yte) < 0.15).mean() * 100)
    print(f"refit done: last train mse {tr:.4f} (std units), lr {float(opt.learning_rate):.2e}")
    print(f"test MAE {mae:.3f} pct-points (reference {base_mae:.3f}); within 0.15: {within:.1f}%")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
