"""Cyclical-beta VAE on synthetic GNSS station displacement series (fault creep + slip events).

Each sample: 24 daily east-displacement readings (mm) from one station: steady creep
(0.2-1.5 mm/day), an optional slow-slip step (35% of stations, 3-9 mm), 0.6 mm noise.
beta on the KL term restarts from 0 every cycle (cyclical annealing), so the total
objective climbs during each ramp even though the model keeps improving.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEQ = 24
LATENT = 3
CYCLES = 4
EPOCHS_PER_CYCLE = 10
RAMP_FRACTION = 0.5
BATCH = 64


def make_stations(n, seed):
    key = mx.random.key(seed)
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    days = mx.arange(SEQ, dtype=mx.float32)
    rate = mx.random.uniform(0.2, 1.5, (n, 1), key=k1)
    has_slip = (mx.random.uniform(shape=(n, 1), key=k2) < 0.35).astype(mx.float32)
    slip_day = mx.random.randint(4, SEQ - 4, (n, 1), key=k3).astype(mx.float32)
    slip_mm = mx.random.uniform(3.0, 9.0, (n, 1), key=k4)
    series = rate * days + has_slip * slip_mm * (days >= slip_day).astype(mx.float32)
    series = series + 0.6 * mx.random.normal((n, SEQ), key=k5)
    return series - series[:, :1]  # relative to first day


class CreepVAE(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(SEQ, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.to_mu = nn.Linear(hidden, LATENT)
        self.to_logvar = nn.Linear(hidden, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, SEQ))

    def __call__(self, x, sample=True):
        h = self.enc(x / 10.0)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + (mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else 0.0)
        return self.dec(z) * 10.0, mu, logvar


def terms(model, x):
    recon, mu, logvar = model(x)
    rec = mx.mean(mx.sum(mx.square(recon - x), axis=1)) / 2.0
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=1))
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


def beta_at(epoch_in_cycle, step, steps_per_epoch):
    frac = (epoch_in_cycle + step / steps_per_epoch) / EPOCHS_PER_CYCLE
    return min(1.0, frac / RAMP_FRACTION)


def main():
    mx.random.seed(11)
    train = make_stations(2048, seed=1)
    val = make_stations(512, seed=2)
    model = CreepVAE()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, objective)

    # baseline: predict every station as the mean series
    mean_series = mx.mean(train, axis=0, keepdims=True)
    base_rmse = math.sqrt(mx.mean(mx.square(val - mean_series)).item())

    steps_per_epoch = train.shape[0] // BATCH
    first = True
    t0 = time.time()
    for cycle in range(CYCLES):
        for ep in range(EPOCHS_PER_CYCLE):
            perm = mx.random.permutation(train.shape[0])
            tot = rec_sum = kl_sum = 0.0
            for s in range(steps_per_epoch):
                beta = beta_at(ep, s, steps_per_epoch)
                xb = train[perm[s * BATCH:(s + 1) * BATCH]]
                (loss, (rec, kl)), grads = step_fn(model, xb, beta)
                if first:
                    zero = [k for k, g in nn.utils.tree_flatten(grads) if mx.all(g == 0).item()]
                    print(json.dumps({"event": "grad_audit", "zero_grad_tensors": zero}))
                    first = False
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss, rec, kl)
                tot += loss.item(); rec_sum += rec.item(); kl_sum += kl.item()
            recon, _, _ = model(val, sample=False)
            rmse = math.sqrt(mx.mean(mx.square(recon - val)).item())
            vrec, vkl = terms(model, val)
            print(json.dumps({
                "cycle": cycle, "epoch": ep, "beta": round(beta, 3),
                "objective": round(tot / steps_per_epoch, 3),
                "recon_nll": round(rec_sum / steps_per_epoch, 3),
                "kl_nats": round(kl_sum / steps_per_epoch, 3),
                "val_elbo": round(-(vrec.item() + vkl.item()), 3),
                "val_rmse_mm": round(rmse, 3), "baseline_rmse_mm": round(base_rmse, 3),
            }))
    print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                      "final_val_rmse_mm": round(rmse, 3), "baseline_rmse_mm": round(base_rmse, 3)}))


if __name__ == "__main__":
    main()
