import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

# Hot-spring bathhouse: outdoor pool temperature one hour ahead (degC) from
# spring inflow, air temperature, wind, bathers, cover state and hour of day.
rng = np.random.default_rng(7)
N_TRAIN, N_VAL = 24000, 4000


def make(n):
    inflow = rng.uniform(2.0, 14.0, n)          # litres per second
    src_t = rng.normal(58.0, 2.5, n)           # spring source temperature
    air = rng.normal(4.0, 7.0, n)
    wind = rng.gamma(2.0, 1.8, n)
    bathers = rng.poisson(12, n).astype(np.float64)
    covered = (rng.random(n) < 0.3).astype(np.float64)
    hour = rng.uniform(0, 24, n)
    now = rng.normal(40.0, 2.0, n)
    mix = inflow / (inflow + 9.0)
    loss = (0.05 + 0.04 * wind) * (now - air) * (1.0 - 0.7 * covered) / 10.0
    ahead = now + 2.2 * mix * (src_t - now) / 10.0 - loss - 0.015 * bathers \
        + 0.3 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 0.12, n)
    X = np.stack([inflow, src_t, air, wind, bathers, covered,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24), now], 1)
    return X.astype(np.float32), ahead.astype(np.float32)


Xtr, ytr = make(N_TRAIN)
Xva, yva = make(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_m, yva_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)


class PoolNet(nn.Module):
    def __init__(self, d_in=9, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.blocks = [nn.Sequential(nn.LayerNorm(h), nn.Linear(h, 2 * h), nn.GELU(), nn.Linear(2 * h, h))
                       for _ in range(2)]
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = h + b(h)
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = PoolNet()
MICRO, ACCUM = 128, 4                    # effective batch 512 built from 4 micro-batches
STEPS, WARM = 240, 40
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, STEPS - WARM, 2e-5)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)


def val_mae():
    preds = []
    for i in range(0, N_VAL, 1000):
        p = model(Xva_m[i:i + 1000])
        mx.eval(p)
        preds.append(p)
    p = mx.concatenate(preds)
    return (mx.abs(p - yva_m).mean() * float(ysd)).item()


def mb(x):
    return round(x / 2 ** 20, 3)


base_mae = float(np.abs(yva - ytr.mean()).mean())
persist_mae = float(np.abs(yva - (Xva[:, 8] * sd[8] + mu[8])).mean())
print("---")
print("doc: setup")
print(f"train_rows: {N_TRAIN}")
print(f"val_rows: {N_VAL}")
print(f"micro_batch: {MICRO}")
print(f"accum_steps: {ACCUM}")
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"baseline_mean_mae_c: {base_mae:.4f}")
print(f"baseline_persistence_mae_c: {persist_mae:.4f}")

perm = np.random.default_rng(11).permutation(N_TRAIN)
cursor = 0
t0 = time.time()
run_loss = []
mx.reset_peak_memory()
for step in range(1, STEPS + 1):
    acc = None
    tot = 0.0
    for k in range(ACCUM):
        if cursor + MICRO > N_TRAIN:
            perm = np.random.default_rng(11 + step).permutation(N_TRAIN)
            cursor = 0
        idx = mx.array(perm[cursor:cursor + MICRO])
        cursor += MICRO
        l, g = vg(model, Xtr_m[idx], ytr_m[idx])
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        mx.eval(acc, l)
        tot += l.item()
    acc = tree_map(lambda a: a / ACCUM, acc)
    lr_used = sched(opt.step).item()
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state)
    del acc
    run_loss.append(tot / ACCUM)
    if step % 50 == 0:
        mx.clear_cache()
    if step in (1, 2, 10) or step % 30 == 0:
        mae = val_mae()
        print("---")
        print("doc: progress")
        print(f"step: {step}")
        print(f"lr_before_update: {lr_used:.6f}")
        print(f"train_mse_std_mean_last: {np.mean(run_loss[-20:]):.5f}")
        print(f"val_mae_c: {mae:.4f}")
        print("memory_mb:")
        print(f"  active: {mb(mx.get_active_memory())}")
        print(f"  peak_since_last: {mb(mx.get_peak_memory())}")
        print(f"  cache: {mb(mx.get_cache_memory())}")
        print(f"elapsed_s: {time.time() - t0:.1f}")
        mx.reset_peak_memory()

final = val_mae()
print("---")
print("doc: summary")
print(f"final_val_mae_c: {final:.4f}")
print(f"improvement_vs_persistence: {persist_mae / final:.2f}x")
print(f"wall_s: {time.time() - t0:.1f}")
print("...")
