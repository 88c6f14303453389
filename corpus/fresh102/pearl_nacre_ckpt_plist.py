"""Pearl farm harvest: predict the nacre thickness of cultured pearls.

Each record is one oyster at harvest: mean water temperature, culture months,
nucleus diameter, hanging depth, plankton index, salinity, oyster age.  The
target (nacre thickness, mm) is log-normally scattered around a made-up growth
law, and the scatter is wider for short cultures (uneven early deposition).

Model: a deep residual MLP whose blocks are run through nn.utils.checkpoint
(activations recomputed in the backward pass), with two heads: mean and
log-sigma of log(thickness).  Loss: Gaussian NLL of log-thickness in nats per
pearl -- it goes negative once the predicted spread is tight.

The run is silent while training; the whole history is written at the end as an
Apple property list (plistlib) on stdout.
"""
import math
import plistlib
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["water_c", "culture_months", "nucleus_mm", "depth_m", "plankton_idx", "salinity_psu", "oyster_age_y"]


def simulate(n, rng):
    temp = rng.uniform(21.0, 30.0, n)
    months = rng.uniform(8.0, 30.0, n)
    nucleus = rng.uniform(5.0, 9.0, n)
    depth = rng.uniform(2.0, 12.0, n)
    plankton = rng.gamma(3.0, 1.0, n)
    salinity = rng.uniform(30.0, 36.0, n)
    age = rng.integers(2, 6, n).astype(np.float64)
    short = 1.0 / (1.0 + np.exp((months - 14.0) / 2.0))     # 1 short .. 0 long culture
    log_t = (np.log(0.08) + 0.9 * np.log(months) + 0.05 * (temp - 25) - 0.02 * (depth - 6)
             + 0.08 * np.tanh(plankton - 3) - 0.03 * (nucleus - 7) - 0.01 * (salinity - 33)
             - 0.04 * (age - 3))
    sigma = 0.03 + 0.10 * short
    y = log_t + sigma * rng.standard_normal(n)
    X = np.stack([temp, months, nucleus, depth, plankton, salinity, age], axis=1)
    return X.astype(np.float32), y.astype(np.float32), sigma


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def __call__(self, h):
        return h + self.fc2(nn.silu(self.fc1(self.norm(h))))


class NacreNet(nn.Module):
    def __init__(self, n_in, dim=64, depth=4):
        super().__init__()
        self.inp = nn.Linear(n_in, dim)
        self.blocks = [Block(dim) for _ in range(depth)]
        # nn.utils.checkpoint hands each block's parameters to the recomputed
        # function explicitly, so they still receive gradients
        self._ckpt_blocks = [nn.utils.checkpoint(b) for b in self.blocks]
        self.out_norm = nn.LayerNorm(dim)
        self.mu = nn.Linear(dim, 1)
        self.log_sigma = nn.Linear(dim, 1)

    def __call__(self, x):
        h = self.inp(x)
        for blk in self._ckpt_blocks:
            # recompute this block's activations during backprop
            h = blk(h)
        h = self.out_norm(h)
        log_s = mx.clip(self.log_sigma(h).squeeze(-1), -6.0, 2.0)
        return self.mu(h).squeeze(-1), log_s


def gaussian_nll(mu, log_s, y):
    z = (y - mu) * mx.exp(-log_s)
    return 0.5 * z * z + log_s + 0.5 * math.log(2 * math.pi)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(2026)
    Xtr, ytr, _ = simulate(12000, rng)
    Xva, yva, sva = simulate(3000, rng)
    x_mean, x_std = Xtr.mean(0), Xtr.std(0)
    y_mean = float(ytr.mean())
    Xtr_m = mx.array((Xtr - x_mean) / x_std)
    Xva_m = mx.array((Xva - x_mean) / x_std)
    ytr_m = mx.array(ytr - y_mean)
    yva_m = mx.array(yva - y_mean)
    oracle_nll = float(np.mean(0.5 + np.log(sva) + 0.5 * math.log(2 * math.pi)))

    mx.random.seed(7)
    model = NacreNet(len(FEATURES))
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

    steps_per_epoch = Xtr.shape[0] // 128
    schedule = optim.step_decay(2e-3, 0.5, 4 * steps_per_epoch)
    opt = optim.Adam(learning_rate=schedule)

    def loss_fn(model, xb, yb):
        mu, log_s = model(xb)
        return gaussian_nll(mu, log_s, yb).mean()

    step_fn = nn.value_and_grad(model, loss_fn)

    def evaluate():
        mu, log_s = model(Xva_m)
        nll = gaussian_nll(mu, log_s, yva_m).mean()
        err = mx.exp(mu + y_mean) - mx.exp(yva_m + y_mean)
        rmse = mx.sqrt(mx.mean(err * err))
        inside = mx.abs(yva_m - mu) <= 1.6449 * mx.exp(log_s)
        return nll.item(), rmse.item(), 100.0 * mx.mean(inside).item()

    record = {
        "task": "nacre thickness (mm) of cultured pearls at harvest",
        "features": FEATURES,
        "n_train": int(Xtr.shape[0]), "n_valid": int(Xva.shape[0]),
        "parameters": int(n_params),
        "oracle_valid_nll_nats": round(oracle_nll, 4),
        "epochs": [],
    }
    nll0, rmse0, cov0 = evaluate()
    record["untrained"] = {"valid_nll": round(nll0, 4), "valid_rmse_mm": round(rmse0, 4),
                           "valid_cover90_pct": round(cov0, 2)}

    n_epochs = 12
    global_step = 0
    for epoch in range(1, n_epochs + 1):
        order = np.random.default_rng(epoch).permutation(Xtr.shape[0])
        run_loss, seen = 0.0, 0
        for b in range(steps_per_epoch):
            idx = mx.array(order[b * 128:(b + 1) * 128])
            loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
            if global_step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
                record["first_step_gradients"] = {"leaves": len(flat), "zero_leaves": zero}
                if zero:
                    sys.exit(f"zero gradient leaves: {zero}")
            lr_used = float(schedule(opt.step))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += loss.item()
            seen += 1
            global_step += 1
        v_nll, v_rmse, v_cov = evaluate()
        record["epochs"].append({
            "epoch": epoch, "step": global_step, "lr": round(lr_used, 6),
            "train_nll": round(run_loss / seen, 4), "valid_nll": round(v_nll, 4),
            "valid_rmse_mm": round(v_rmse, 4), "valid_cover90_pct": round(v_cov, 2),
            "seconds": round(time.perf_counter() - t0, 2),
        })

    record["final"] = record["epochs"][-1]
    sys.stdout.write(plistlib.dumps(record, sort_keys=False).decode("utf-8"))


if __name__ == "__main__":
    main()
