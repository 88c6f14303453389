"""Rock-pool survey: barnacle cover (%) per quadrat.

Stage 1 fits a base model on last season's quadrats and writes a safetensors
checkpoint. Stage 2 reloads that checkpoint into fresh models and fine-tunes
three branches on this season's (shifted) quadrats; one branch is a held-still
reference with learning rate 0.0, kept to measure what fine-tuning buys.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def quadrats(n, rng, season_shift=0.0):
    height_m = rng.uniform(0.2, 3.2, n)        # shore height above chart datum
    wave_exp = rng.uniform(0, 1, n)
    rock_rough = rng.normal(0, 1, n)
    whelk_density = rng.gamma(2.0, 3.0, n)
    aspect_south = rng.uniform(-1, 1, n)
    limpet_density = rng.gamma(2.0, 5.0, n)
    X = np.stack([height_m, wave_exp, rock_rough, whelk_density,
                  aspect_south, limpet_density], 1)
    logit = (2.2 - 1.6 * (height_m - 1.6) ** 2 + 1.3 * wave_exp
             + 0.4 * rock_rough - 0.09 * whelk_density
             - 0.5 * aspect_south * (height_m > 2.0)
             - 0.03 * limpet_density
             + season_shift * (1.0 - wave_exp))
    cover = 100.0 / (1.0 + np.exp(-logit)) + rng.normal(0, 4.0, n)
    return X.astype(np.float32), np.clip(cover, 0, 100).astype(np.float32)


class CoverNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.silu(l(x))
        return self.layers[-1](x).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def rmse_pct(model, x, y, y_sd):
    return (mx.sqrt(mx.mean((model(x) - y) ** 2)) * y_sd).item()


def fit(model, opt, Xtr, ytr, Xva, yva, y_sd, steps, tag, rng, every):
    lg = nn.value_and_grad(model, huber)
    n = Xtr.shape[0]
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, 64))
        loss, grads = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % every == 0:
            print(f"[{tag}] step {step:4d}  huber {loss.item():.4f}  "
                  f"val_rmse {rmse_pct(model, Xva, yva, y_sd):6.2f} %cover")


def main():
    t0 = time.time()
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    X1, y1 = quadrats(4000, rng)
    X1va, y1va = quadrats(800, rng)
    X2, y2 = quadrats(600, rng, season_shift=-1.4)      # this season, few quadrats
    X2va, y2va = quadrats(800, rng, season_shift=-1.4)

    mu, sd = X1.mean(0), X1.std(0)
    y_mu, y_sd = float(y1.mean()), float(y1.std())
    prep = lambda X, y: (mx.array((X - mu) / sd), mx.array((y - y_mu) / y_sd))
    X1m, y1m = prep(X1, y1)
    X1vm, y1vm = prep(X1va, y1va)
    X2m, y2m = prep(X2, y2)
    X2vm, y2vm = prep(X2va, y2va)

    mean_base = float(np.sqrt(np.mean((y2va - y2.mean()) ** 2)))
    print(f"this-season mean-cover baseline rmse {mean_base:.2f} %cover")

    # ---- stage 1: base model on last season ----
    base = CoverNet()
    mx.eval(base.parameters())
    opt = optim.Adam(learning_rate=optim.step_decay(3e-3, 0.5, 500))
    fit(base, opt, X1m, y1m, X1vm, y1vm, y_sd, 1500, "base", rng, every=250)
    print(f"base on this season before fine-tuning: "
          f"val_rmse {rmse_pct(base, X2vm, y2vm, y_sd):.2f} %cover")

    ckpt_dir = tempfile.mkdtemp("_ckpt", "rockpool")
    ckpt = os.path.join(ckpt_dir, "base.safetensors")
    base.save_weights(ckpt)
    print(f"checkpoint written: {os.path.basename(ckpt)} "
          f"({os.path.getsize(ckpt) / 1024:.1f} KiB)")

    # ---- stage 2: branches from the same checkpoint ----
    branches = {
        "still  lr=0.0": dict(lr=0.0, wd=0.0),
        "gentle lr=3e-4": dict(lr=3e-4, wd=0.0),
        "brisk  lr=1e-3 wd": dict(lr=1e-3, wd=1e-2),
    }
    results = {}
    ref = dict(tree_flatten(base.parameters()))
    for name, cfg in branches.items():
        m = CoverNet()
        m.load_weights(ckpt)
        mx.eval(m.parameters())
        diff = max(mx.max(mx.abs(v - ref[k])).item()
                   for k, v in tree_flatten(m.parameters()))
        print(f"--- branch {name}: reloaded, max |w - base| = {diff:.1e}")
        o = optim.AdamW(learning_rate=cfg["lr"], weight_decay=cfg["wd"])
        fit(m, o, X2m, y2m, X2vm, y2vm, y_sd, 600, name, np.random.default_rng(17), every=150)
        moved = max(mx.max(mx.abs(v - ref[k])).item()
                    for k, v in tree_flatten(m.parameters()))
        results[name] = (rmse_pct(m, X2vm, y2vm, y_sd), moved)

    print("\n=== this-season validation ===")
    print(f"{'mean-cover baseline':22s} rmse {mean_base:6.2f}")
    for name, (r, moved) in results.items():
        print(f"{name:22s} rmse {r:6.2f}   max weight change {moved:.3f}")
    best = min((k for k in results if not k.startswith("still")), key=lambda k: results[k][0])
    gain = results["still  lr=0.0"][0] - results[best][0]
    print(f"best branch: {best.strip()}  (gain over held-still reference {gain:.2f} %cover)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
