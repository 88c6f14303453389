"""Controlled-atmosphere apple storage: predict flesh-firmness loss (N) after
cold storage from storage days, temperature, O2, CO2, harvest maturity and
cultivar.

The run is done in two sessions, as on a shared machine with a time limit:
session 1 trains for 900 steps, writes a checkpoint (weights, optimizer state,
data cursor) to a temp folder and throws everything away; session 2 rebuilds
the model and optimizer from the checkpoint and finishes the schedule.
The learning rate follows SGDR (cosine cycles of 300, 600, 1200 steps with warm
restarts), so the training loss jumps up after each restart.  Gradients go
through an mx.distributed all_sum / size (a group of 1 here, unchanged code on
several hosts).
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

CULTIVARS = ["Gala", "Honeycrisp", "Braeburn"]
TOTAL_STEPS = 2100
SESSION1_STEPS = 900
BATCH = 96


def firmness_loss(days, temp, o2, co2, maturity, cv):
    rate = np.array([0.030, 0.012, 0.022])[cv]          # N per day at 0.5 C, 2% O2
    rate = rate * np.exp(0.09 * (temp - 0.5)) * (1 + 0.25 * (o2 - 2.0)) * np.exp(-0.12 * co2)
    rate = rate * (0.7 + 0.6 * maturity)
    return 22.0 * (1 - np.exp(-rate * days / 22.0))     # saturates: cannot lose more than ~22 N


def make_lots(n, rng):
    cv = rng.integers(0, 3, size=n)
    days = rng.uniform(20, 300, size=n)
    temp = rng.uniform(-0.5, 4.0, size=n)
    o2 = rng.uniform(0.8, 5.0, size=n)
    co2 = rng.uniform(0.0, 4.0, size=n)
    mat = rng.uniform(0.0, 1.0, size=n)
    y = firmness_loss(days, temp, o2, co2, mat, cv) + rng.normal(0, 1.0, size=n)
    x = np.stack([days / 100.0, temp / 2.0, o2 / 2.0, co2 / 2.0, mat], axis=1)
    x = np.concatenate([x, np.eye(3)[cv]], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class FirmnessMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        h = x
        for layer in self.layers[:-1]:
            h = mx.tanh(layer(h))
        return self.layers[-1](h).squeeze(-1) * 5.0 + 10.0   # output in N, centred on typical loss


def sgdr_schedule(base=4e-3, floor=4e-5):
    cycles = [300, 600, 1200]
    scheds = [optim.cosine_decay(base, c, floor) for c in cycles]
    bounds = [int(b) for b in np.cumsum(cycles[:-1])]
    return optim.join_schedules(scheds, bounds), bounds


def build():
    model = FirmnessMLP()
    sched, bounds = sgdr_schedule()
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    opt.init(model.trainable_parameters())
    return model, opt, bounds


def run_session(model, opt, group, data, start, stop, cursor, perm_seed, first_check, rows):
    xtr, ytr, xva, yva = data
    n = xtr.shape[0]
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
    rng = np.random.default_rng(perm_seed)
    perm = rng.permutation(n)
    acc, cnt = 0.0, 0
    t0 = time.time()
    for step in range(start, stop):
        if cursor + BATCH > n:
            perm_seed += 1
            rng = np.random.default_rng(perm_seed)
            perm, cursor = rng.permutation(n), 0
        idx = mx.array(perm[cursor:cursor + BATCH])
        cursor += BATCH
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / group.size(), grads)
        if first_check:
            mx.eval(grads)
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
            print(f"  gradient check at step {step + 1}: {len(flat)} leaves, zero leaves: {dead or 'none'}")
            first_check = False
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        cnt += 1
        done = step + 1
        if done % 150 == 0:
            pred = model(xva)
            rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
            rows.append((done, opt.learning_rate.item(), acc / cnt, rmse, time.time() - t0))
            print(f"  {done:>5}  {rows[-1][1]:>9.2e}  {acc / cnt:>11.3f}  {rmse:>12.3f}  {rows[-1][4]:>6.1f}")
            acc, cnt = 0.0, 0
    return cursor, perm_seed


def main():
    group = mx.distributed.init()
    rng = np.random.default_rng(31)
    xtr, ytr = make_lots(9000, rng)
    xva, yva = make_lots(1500, rng)
    data = (mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva))
    print(f"apple storage lots: train {len(xtr)}, valid {len(xva)}; distributed group size {group.size()}")
    print(f"predict-mean valid RMSE {np.sqrt(np.mean((yva - ytr.mean()) ** 2)):.3f} N, noise floor 1.000 N")

    ckpt_dir = tempfile.mkdtemp(prefix="firmness_ckpt_")
    rows = []
    header = f"  {'step':>5}  {'lr':>9}  {'train mse':>11}  {'valid rmse N':>12}  {'secs':>6}"

    # ---- session 1 ----
    mx.random.seed(5)
    model, opt, bounds = build()
    print(f"session 1: steps 0-{SESSION1_STEPS}, warm restarts at steps {bounds}")
    print(header)
    cursor, perm_seed = run_session(model, opt, group, data, 0, SESSION1_STEPS, 0, 100, True, rows)
    model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "trainer.json"), "w") as f:
        json.dump({"step": SESSION1_STEPS, "cursor": cursor, "perm_seed": perm_seed}, f)
    saved_rmse = rows[-1][3]
    del model, opt
    print(f"checkpoint written to {os.path.basename(ckpt_dir)}/ (step {SESSION1_STEPS})")

    # ---- session 2: fresh objects, restored from disk ----
    mx.random.seed(999)            # different init, must be overwritten by the checkpoint
    model, opt, _ = build()
    model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "trainer.json")) as f:
        meta = json.load(f)
    resumed_rmse = mx.sqrt(mx.mean((model(data[2]) - data[3]) ** 2)).item()
    print(f"session 2: resumed at step {meta['step']} (optimizer step counter {opt.step.item()}), "
          f"valid rmse {resumed_rmse:.3f} N vs {saved_rmse:.3f} N at save")
    print(header)
    run_session(model, opt, group, data, meta["step"], TOTAL_STEPS, meta["cursor"], meta["perm_seed"], False, rows)

    best = min(rows, key=lambda r: r[3])
    print(f"finished {TOTAL_STEPS} steps; best valid rmse {best[3]:.3f} N at step {best[0]}, "
          f"final {rows[-1][3]:.3f} N")
    for name in os.listdir(ckpt_dir):
        os.remove(os.path.join(ckpt_dir, name))
    os.rmdir(ckpt_dir)


if __name__ == "__main__":
    main()
