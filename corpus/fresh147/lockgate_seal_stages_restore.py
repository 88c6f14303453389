"""Canal lock gate survey: is a mitre gate sealed, seeping or leaking?

Stage A trains on the clear-cut surveys only; stage B adds the borderline
ones (with the inspectors' occasional mislabels), so the train loss goes up
when it starts. Gradients go through an all-sum over the distributed group
(a single process here). Stage B stops early and restores its best weights.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("lockgate")

CLASSES = ("sealed", "seeping", "leaking")


def survey(n, key, noise_frac):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    u = mx.random.uniform(shape=(n, 7), key=k1)
    head_up = 1.0 + 3.0 * u[:, 0]
    head_down = 0.2 + 1.5 * u[:, 1]
    age_y = 40.0 * u[:, 2]
    moisture = 15.0 + 25.0 * u[:, 3]
    mitre_mm = 8.0 * u[:, 4] ** 2
    residual_ls = 2.0 * u[:, 5]
    water_c = 2.0 + 20.0 * u[:, 6]
    dh = head_up - head_down
    score = (0.6 * dh * mitre_mm ** 0.5 + 0.04 * age_y - 0.05 * (moisture - 25.0)
             + 0.9 * residual_ls - 0.02 * water_c)
    score = score + 0.15 * mx.random.normal(shape=(n,), key=k2)
    cuts = (1.4, 2.6)
    y = (score > cuts[0]).astype(mx.int32) + (score > cuts[1]).astype(mx.int32)
    margin = mx.minimum(mx.abs(score - cuts[0]), mx.abs(score - cuts[1]))
    flip = mx.random.uniform(shape=(n,), key=k3) < noise_frac
    other = (y + 1 + mx.random.randint(0, 2, (n,), key=k4)) % 3
    y = mx.where(flip, other, y)
    x = mx.stack([head_up, head_down, age_y, moisture, mitre_mm, residual_ls, water_c], axis=1)
    return x, y, margin


x_all, y_all, margin = survey(4000, mx.random.key(31), noise_frac=0.08)
x_val, y_val, _ = survey(800, mx.random.key(32), noise_frac=0.0)
mean, std = x_all.mean(axis=0), x_all.std(axis=0)
x_all, x_val = (x_all - mean) / std, (x_val - mean) / std
easy = mx.array([i for i, m in enumerate(margin.tolist()) if m > 0.5])
log.info("surveys: %d train (%d clear-cut), %d val", x_all.shape[0], easy.shape[0], x_val.shape[0])

group = mx.distributed.init()
log.info("distributed group: rank %d of %d", group.rank(), group.size())

mx.random.seed(3)
model = nn.Sequential(nn.Linear(7, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3))
mx.eval(model.parameters())
lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, 1500, 3e-4)], [40])
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-3)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(model, ce)


def step(x, y):
    loss, g = vg(model, x, y)
    g = tree_map(lambda a: mx.distributed.all_sum(a, group=group) / group.size(), g)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    return loss.item(), g


def validate():
    logits = model(x_val)
    vloss = nn.losses.cross_entropy(logits, y_val, reduction="mean").item()
    pred = logits.argmax(axis=-1)
    acc = (pred == y_val).astype(mx.float32).mean().item()
    f1s = []
    for c in range(3):
        tp = ((pred == c) & (y_val == c)).sum().item()
        fp = ((pred == c) & (y_val != c)).sum().item()
        fn = ((pred != c) & (y_val == c)).sum().item()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return vloss, acc, sum(f1s) / 3


def run_epoch(pool, batch=50):
    perm = pool[mx.random.permutation(pool.shape[0])]
    total, n = 0.0, 0
    for i in range(0, perm.shape[0] - batch + 1, batch):
        idx = perm[i:i + batch]
        loss, g = step(x_all[idx], y_all[idx])
        if n == 0 and opt.step.item() == 1:
            flat = tree_flatten(g)
            log.info("grad check: %d/%d tensors nonzero (lr at step 0 = %.1e)",
                     sum(1 for _, a in flat if mx.abs(a).max().item() > 0), len(flat), lr(mx.array(0)).item())
        total += loss
        n += 1
    return total / n


log.info("stage A: clear-cut surveys only")
for ep in range(1, 7):
    tr = run_epoch(easy)
    vloss, acc, f1 = validate()
    log.info("A ep%02d train_ce=%.4f val_ce=%.4f acc=%.1f%% macroF1=%.3f", ep, tr, vloss, 100 * acc, f1)

log.info("stage B: all surveys incl. borderline + mislabelled (~8%)")
everything = mx.arange(x_all.shape[0])
best, best_ep, best_params, patience = float("inf"), 0, None, 0
for ep in range(1, 31):
    tr = run_epoch(everything)
    vloss, acc, f1 = validate()
    mark = ""
    if vloss < best - 1e-4:
        best, best_ep, patience = vloss, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mark = " *"
    else:
        patience += 1
    log.info("B ep%02d train_ce=%.4f val_ce=%.4f acc=%.1f%% macroF1=%.3f%s", ep, tr, vloss, 100 * acc, f1, mark)
    if patience >= 3:
        log.warning("no val improvement for 3 epochs, stopping at B ep%02d", ep)
        break

model.update(best_params)
mx.eval(model.parameters())
vloss, acc, f1 = validate()
counts = [(y_val == c).sum().item() for c in range(3)]
log.info("restored B ep%02d: val_ce=%.4f acc=%.1f%% macroF1=%.3f (majority-class acc %.1f%%)",
         best_ep, vloss, 100 * acc, f1, 100 * max(counts) / sum(counts))
