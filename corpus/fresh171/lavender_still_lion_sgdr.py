# Lavender distillery: predict essential-oil yield (mL per 100 kg of flowers)
# from still settings, with Lion + cosine warm restarts (each cycle warms up
# from lr = 0) and early stopping that restores the best weights.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(171)

N_TRAIN, N_VAL = 2400, 600
FEATURES = ["charge_kg", "steam_kg_h", "minutes", "bloom_pct", "moisture_pct",
            "days_wilted", "chop_mm", "altitude_m"]


def make_batches(n, key):
    k = mx.random.split(key, 3)
    u = mx.random.uniform(shape=(n, 8), key=k[0])
    charge = 200 + 600 * u[:, 0]
    steam = 40 + 120 * u[:, 1]
    minutes = 30 + 60 * u[:, 2]
    bloom = 20 + 80 * u[:, 3]
    moist = 35 + 35 * u[:, 4]
    wilt = 4 * u[:, 5]
    chop = 2 + 28 * u[:, 6]
    alt = 300 + 1200 * u[:, 7]
    # made-up law: saturating extraction with time and steam per kg of charge
    ratio = steam * minutes / 60.0 / charge
    extract = 1.0 - mx.exp(-3.0 * ratio)
    quality = (0.6 + 0.4 * bloom / 100.0) * (1.0 + 0.08 * wilt - 0.015 * wilt ** 2)
    quality = quality * (1.15 - 0.006 * (moist - 35)) * (1.0 + 0.00012 * (alt - 300))
    chop_eff = 1.0 - 0.25 * mx.abs(chop - 12.0) / 16.0
    y = 1.6 * extract * quality * chop_eff
    y = y + 0.04 * mx.random.normal(shape=(n,), key=k[1])
    X = mx.stack([charge, steam, minutes, bloom, moist, wilt, chop, alt], axis=1)
    return X, y


X, y = make_batches(N_TRAIN + N_VAL, mx.random.key(5))
Xtr, ytr, Xva, yva = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
ymu, ysd = ytr.mean(), ytr.std()
Ztr, Zva = (Xtr - mu) / sd, (Xva - mu) / sd
ttr = (ytr - ymu) / ysd

# the distillers' rule of thumb: yield grows with steam-hours per kg, nothing else
rule = 1.6 * (1.0 - mx.exp(-3.0 * Xva[:, 1] * Xva[:, 2] / 60.0 / Xva[:, 0])) * 0.85
rule_mae = mx.abs(rule - yva).mean().item()


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


model = YieldNet()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=0.0, betas=[0.9, 0.99], weight_decay=0.01)


def loss_fn(m, xb, tb):
    return nn.losses.huber_loss(m(xb), tb, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every weight matrix and bias must receive a gradient
_, g0 = grad_fn(model, Ztr[:256], ttr[:256])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(f"audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {dead if dead else 'none'}")

CYCLES = [200, 400, 800]     # steps per cycle, doubling (SGDR)
WARM = 25
PEAK = 6e-4
BATCH = 64
EVAL_EVERY = 50
PATIENCE = 8


def lr_at(step_in_cycle, length):
    if step_in_cycle < WARM:
        return PEAK * step_in_cycle / WARM          # starts at exactly 0
    t = (step_in_cycle - WARM) / max(1, length - WARM)
    return 0.5 * PEAK * (1.0 + math.cos(math.pi * t))


def val_mae():
    pred = model(Zva) * ysd + ymu
    return mx.abs(pred - yva).mean().item()


def bar(done, total, width=24):
    filled = done * width / total
    full = int(filled)
    part = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < width else ""
    return "█" * full + part + " " * (width - full - len(part))


best = (float("inf"), None, -1)
since_best = 0
global_step = 0
t0 = time.time()
perm_key = mx.random.key(77)
stopped = False
total_steps = sum(CYCLES)

for c, length in enumerate(CYCLES, 1):
    for s in range(length):
        if s % (N_TRAIN // BATCH) == 0:
            perm_key, sub = mx.random.split(perm_key)
            order = mx.random.permutation(N_TRAIN, key=sub)
        j = (s % (N_TRAIN // BATCH)) * BATCH
        idx = order[j:j + BATCH]
        opt.learning_rate = lr_at(s, length)
        loss, grads = grad_fn(model, Ztr[idx], ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        global_step += 1
        if global_step % EVAL_EVERY == 0:
            mae = val_mae()
            flag = ""
            if mae < best[0] - 1e-4:
                best = (mae, tree_map(lambda a: mx.array(a), model.parameters()), global_step)
                since_best = 0
                flag = " *"
            else:
                since_best += 1
            el = time.time() - t0
            sys.stdout.write(
                f"\rcycle {c}/3 |{bar(s + 1, length)}| {s + 1:4d}/{length} "
                f"[{el:5.1f}s] lr={float(opt.learning_rate.item()) if hasattr(opt.learning_rate, 'item') else opt.learning_rate:.2e} "
                f"huber={loss.item():.4f} val_mae={mae:.4f} mL/100kg "
                f"(rule-of-thumb {rule_mae:.4f}){flag}\n")
            sys.stdout.flush()
            if c == len(CYCLES) and since_best >= PATIENCE:
                print(f"early stop at step {global_step}: no better val_mae for "
                      f"{PATIENCE * EVAL_EVERY} steps")
                stopped = True
                break
    if stopped:
        break

final_mae = val_mae()
model.update(best[1])
mx.eval(model.parameters())
restored = val_mae()
print(f"last weights val_mae {final_mae:.4f}; restored step {best[2]} val_mae {restored:.4f} "
      f"mL/100kg; rule-of-thumb {rule_mae:.4f}; ratio {restored / rule_mae:.1%}")
print(f"steps run {global_step}/{total_steps}, wall {time.time() - t0:.1f}s")
