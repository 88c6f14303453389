# Banjo setup bench: predict how long a plucked open-G string rings (sustain,
# seconds until -40 dB) from five synthetic setup readings, with a made-up law.
# Three seeds are trained one after another; each run warms its learning rate up
# from exactly 0 and gets one warm restart halfway, so its loss jumps back up.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TRAIN, N_VAL = 3000, 600
STEPS, BATCH, REPORT = 600, 64, 50


def make_readings(key, n):
    ks = mx.random.split(key, 6)
    dial = mx.random.uniform(86, 94, (n,), key=ks[0])           # DrumDial head tension
    bridge_g = mx.random.uniform(1.6, 3.2, (n,), key=ks[1])     # bridge mass, grams
    tail_deg = mx.random.uniform(0, 12, (n,), key=ks[2])        # tailpiece downforce angle
    gauge = mx.random.uniform(9, 12, (n,), key=ks[3])           # string gauge, thou
    resonator = (mx.random.uniform(shape=(n,), key=ks[4]) < 0.5).astype(mx.float32)
    tight = (dial - 86.0) / 8.0
    sustain = (2.0 + 3.2 * tight - 1.5 * tight * tight) * mx.exp(-0.35 * (bridge_g - 1.6))
    sustain = sustain * (1.0 + 0.04 * tail_deg - 0.003 * tail_deg * tail_deg)
    sustain = sustain + 0.12 * (gauge - 9.0) + 0.6 * resonator
    sustain = sustain + 0.15 * mx.random.normal((n,), key=ks[5])
    x = mx.stack([tight, (bridge_g - 1.6) / 1.6, tail_deg / 12.0, (gauge - 9.0) / 3.0, resonator], axis=1)
    return x, sustain


class SustainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def lr_plan(peak):
    half = STEPS // 2
    cycle = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 40), optim.cosine_decay(peak, half - 40, 1e-5)], [40]
    )
    return lambda step: mx.where(step < half, cycle(step), cycle(step - half))


def run(seed, xtr, ytr, xva, yva, y_mu, y_sd):
    mx.random.seed(seed)
    model = SustainNet()
    opt = optim.AdamW(learning_rate=lr_plan(3e-3), weight_decay=1e-4)
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), (y - y_mu) / y_sd)

    step_fn = nn.value_and_grad(model, loss_fn)
    base_rmse = math.sqrt(mx.mean(mx.square(yva - y_mu)).item())
    run_loss, seen = 0.0, 0
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        seen += 1
        if step % REPORT == 0:
            pred = model(xva) * y_sd + y_mu
            err = pred - yva
            rmse = math.sqrt(mx.mean(err * err).item())
            within = 100.0 * mx.mean((mx.abs(err) <= 0.25).astype(mx.float32)).item()
            print(json.dumps({
                "seed": seed, "step": step, "lr": round(lr_now, 6),
                "train_mse_z": round(run_loss / seen, 4),
                "val_rmse_s": round(rmse, 3), "baseline_rmse_s": round(base_rmse, 3),
                "within_quarter_s_pct": round(within, 1),
            }))
            run_loss, seen = 0.0, 0
    return rmse, within


def main():
    t0 = time.time()
    xtr, ytr = make_readings(mx.random.key(2024), N_TRAIN)
    xva, yva = make_readings(mx.random.key(2025), N_VAL)
    y_mu, y_sd = mx.mean(ytr).item(), mx.std(ytr).item()
    results = {}
    for seed in (3, 17, 29):
        results[seed] = run(seed, xtr, ytr, xva, yva, y_mu, y_sd)
    rm = [r for r, _ in results.values()]
    print(json.dumps({"summary": "seeds", "val_rmse_s_mean": round(sum(rm) / len(rm), 3),
                      "val_rmse_s_worst": round(max(rm), 3), "noise_floor_s": 0.15,
                      "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
