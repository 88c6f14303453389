"""Ice-rink operations: surface temperature (deg C) ten minutes after a
resurfacing pass, regressed from readings logged by the rink crew.

Hyperparameters are chosen with Hyperband (max 9 epochs, eta 3): three
brackets of successive halving. Every candidate keeps its own model and
optimizer in memory, so a promoted candidate continues where it stopped.
The winner is then refit from scratch on train+valid and scored on test.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_passes(n, rng):
    water_l = rng.uniform(300, 700, n)            # litres laid down
    water_c = rng.uniform(45, 70, n)              # flood water temperature
    brine_c = rng.normal(-9.0, 1.2, n)            # slab brine temperature
    hall_c = rng.normal(12.0, 4.0, n)             # air temperature in the hall
    crowd = rng.poisson(900, n) / 1000.0          # spectators (thousands)
    humidity = rng.uniform(30, 80, n)
    heat = water_l * (water_c - 0.0) / 1e4
    temp = (brine_c + 0.55 * heat * np.exp(-0.08 * (humidity - 30) / 10)
            + 0.07 * hall_c + 0.35 * crowd * (hall_c > 14)
            - 0.25 * np.tanh((humidity - 60) / 10)
            + rng.normal(0, 0.25, n))
    X = np.stack([water_l, water_c, brine_c, hall_c, crowd, humidity], 1)
    return X.astype(np.float32), temp.astype(np.float32)


rng = np.random.default_rng(2024)
X_all, y_all = make_passes(4200, rng)
X_tr, y_tr = X_all[:2400], y_all[:2400]
X_va, y_va = X_all[2400:3300], y_all[2400:3300]
X_te, y_te = X_all[3300:], y_all[3300:]
mu, sd = X_tr.mean(0), X_tr.std(0)
ym, ys = y_tr.mean(), y_tr.std()
norm = lambda X: mx.array((X - mu) / sd)
Xtr, Xva, Xte = norm(X_tr), norm(X_va), norm(X_te)
ytr, yva = mx.array((y_tr - ym) / ys), mx.array((y_va - ym) / ys)


class SurfaceNet(nn.Module):
    def __init__(self, width, depth, p_drop):
        super().__init__()
        self.inp = nn.Linear(6, width)
        self.blocks = [nn.Linear(width, width) for _ in range(depth)]
        self.drop = nn.Dropout(p_drop)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for b in self.blocks:
            h = h + self.drop(nn.silu(b(h)))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class Candidate:
    def __init__(self, cid, cfg, seed):
        self.cid, self.cfg = cid, cfg
        mx.random.seed(seed)
        self.model = SurfaceNet(cfg["width"], cfg["depth"], cfg["drop"])
        mx.eval(self.model.parameters())
        self.opt = optim.AdamW(learning_rate=cfg["lr"], weight_decay=cfg["wd"])
        self.grad_fn = nn.value_and_grad(self.model, mse)
        self.epochs_done = 0
        self.seed = seed

    def train_to(self, epochs, X, y):
        self.model.train()
        last = float("nan")
        while self.epochs_done < epochs:
            perm = np.random.default_rng(self.seed * 97 + self.epochs_done).permutation(X.shape[0])
            for s in range(0, len(perm), 64):
                idx = mx.array(perm[s:s + 64])
                loss, g = self.grad_fn(self.model, X[idx], y[idx])
                self.opt.update(self.model, g)
                mx.eval(loss, self.model.parameters(), self.opt.state)
                last = loss.item()
            self.epochs_done += 1
        return last

    def rmse(self, X, y_std):
        self.model.eval()
        pred = self.model(X)
        return math.sqrt(mx.mean((pred - y_std) ** 2).item()) * float(ys)


def sample_cfg(r):
    return {"lr": float(10 ** r.uniform(-3.7, -1.6)),
            "wd": float(10 ** r.uniform(-5, -1.5)),
            "width": int(r.choice([16, 32, 64])),
            "depth": int(r.choice([1, 2])),
            "drop": float(r.choice([0.0, 0.1]))}


def print_frame(rows, cols):
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("    " + " ".join(c.rjust(widths[c]) for c in cols))
    for i, r in enumerate(rows, 1):
        print(f"{i:>3} " + " ".join(str(r[c]).rjust(widths[c]) for c in cols))


def hyperband(R=9, eta=3):
    cfg_rng = np.random.default_rng(5)
    s_max = int(round(math.log(R, eta)))
    B = (s_max + 1) * R
    cid, champion = 0, None
    for s in range(s_max, -1, -1):
        n = int(math.ceil(B / R * eta ** s / (s + 1)))
        r = R * eta ** (-s)
        cands = []
        for _ in range(n):
            cands.append(Candidate(cid, sample_cfg(cfg_rng), seed=300 + cid))
            cid += 1
        print(f"bracket s={s}: {n} candidates starting at {r:g} epoch(s)")
        for i in range(s + 1):
            budget = int(round(r * eta ** i))
            rows = []
            for c in cands:
                last = c.train_to(budget, Xtr, ytr)
                c.val = c.rmse(Xva, yva)
                rows.append({"cand": f"c{c.cid:02d}", "lr": f"{c.cfg['lr']:.2e}",
                             "wd": f"{c.cfg['wd']:.1e}", "width": c.cfg["width"],
                             "depth": c.cfg["depth"], "epochs": c.epochs_done,
                             "last_batch_mse": f"{last:.4f}", "val_rmse_C": f"{c.val:.4f}"})
            print(f"  rung {i} (budget {budget} epochs)")
            print_frame(rows, list(rows[0].keys()))
            cands.sort(key=lambda c: c.val)
            keep = max(1, len(cands) // eta)
            if champion is None or cands[0].val < champion.val:
                champion = cands[0]
            if i < s:
                print(f"  promote: {' '.join(f'c{c.cid:02d}' for c in cands[:keep])}")
                cands = cands[:keep]
    return champion


def main():
    t0 = time.perf_counter()
    base_val = float(np.sqrt(np.mean((y_va - y_tr.mean()) ** 2)))
    print(f"valid rmse of predicting the train mean: {base_val:.4f} C  (noise sd 0.25 C)")
    champ = hyperband()
    print(f"hyperband winner c{champ.cid:02d}: {champ.cfg}  val_rmse {champ.val:.4f} C "
          f"after {champ.epochs_done} epochs")

    # refit from scratch on train+valid with the winning configuration
    X_fit = mx.concatenate([Xtr, Xva])
    y_fit = mx.concatenate([ytr, yva])
    final = Candidate(999, champ.cfg, seed=999)
    for ep in (3, 6, 9):
        last = final.train_to(ep, X_fit, y_fit)
        print(f"refit epoch {ep}: last_batch_mse {last:.4f}")
    test = final.rmse(Xte, mx.array((y_te - ym) / ys))
    base_te = float(np.sqrt(np.mean((y_te - y_tr.mean()) ** 2)))
    print(f"test rmse {test:.4f} C  vs mean-guess {base_te:.4f} C  "
          f"({100 * (1 - test / base_te):.1f}% lower)  total {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
