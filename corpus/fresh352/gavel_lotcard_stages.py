# Auction-house archive: match recorded auctioneer calls (log-band frames)
# to their lot cards. Two-tower symmetric InfoNCE trained from scratch,
# stage "mixed" (random lots per batch) then stage "same_category"
# (every batch drawn from a single category).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CAT, N_MAT, N_ERA, N_FILL = 6, 5, 4, 5
VOCAB = N_CAT + N_MAT + N_ERA + N_FILL
BANDS, FRAMES, DIM = 12, 24, 24
LOG_SCALE_CAP = math.log(100.0)

rng = np.random.default_rng(3)
mot_cat = rng.normal(0, 1, (N_CAT, 4, BANDS)).astype(np.float32)
mot_mat = rng.normal(0, 1, (N_MAT, 4, BANDS)).astype(np.float32)
mot_era = rng.normal(0, 1, (N_ERA, 4, BANDS)).astype(np.float32)
ALL_LOTS = np.array([(c, m, e) for c in range(N_CAT) for m in range(N_MAT) for e in range(N_ERA)])


def render(lots, r):
    n = len(lots)
    x = r.normal(0, 0.7, (n, FRAMES, BANDS)).astype(np.float32)
    start = r.integers(0, 4, n)
    rows = np.arange(n)[:, None]
    k = np.arange(4)[None, :]
    g = r.uniform(0.6, 1.4, (n, 1, 1)).astype(np.float32)
    x[rows, start[:, None] + k] += g * mot_cat[lots[:, 0]]
    x[rows, start[:, None] + 7 + k] += g * mot_mat[lots[:, 1]]
    x[rows, start[:, None] + 14 + k] += g * mot_era[lots[:, 2]]
    fill = N_CAT + N_MAT + N_ERA + r.integers(0, N_FILL, n)
    cards = np.stack([lots[:, 0], N_CAT + lots[:, 1], N_CAT + N_MAT + lots[:, 2], fill], 1)
    return mx.array(x), mx.array(cards.astype(np.int32))


class CallTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(BANDS, 32)
        self.conv = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(64, DIM)

    def __call__(self, x):
        h = nn.silu(self.proj(x))
        h = self.norm(h + nn.silu(self.conv(h)))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


class CardTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.head = nn.Sequential(nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, DIM))

    def __call__(self, t):
        return self.head(self.emb(t).mean(axis=1))


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.call = CallTower()
        self.card = CardTower()
        self.log_scale = mx.array(math.log(1 / 0.07))

    def scale(self):
        return mx.exp(mx.minimum(self.log_scale, LOG_SCALE_CAP))

    def embed(self, x, t):
        a, b = self.call(x), self.card(t)
        return (a / mx.linalg.norm(a, axis=-1, keepdims=True),
                b / mx.linalg.norm(b, axis=-1, keepdims=True))


def loss_fn(model, x, t):
    a, b = model.embed(x, t)
    logits = model.scale() * (a @ b.T)
    target = mx.arange(a.shape[0])
    l_ab = nn.losses.cross_entropy(logits, target, reduction="mean")
    l_ba = nn.losses.cross_entropy(logits.T, target, reduction="mean")
    return 0.5 * (l_ab + l_ba)


def recall(model, x, t, lots, within_category):
    a, b = model.embed(x, t)
    sims = np.array(b @ a.T)
    if within_category:
        same = lots[:, None, 0] == lots[None, :, 0]
        sims = np.where(same, sims, -np.inf)
    return 100.0 * float(np.mean(np.argmax(sims, 1) == np.arange(len(lots))))


def yaml_doc(title, **kv):
    print("---")
    print(f"report: {title}")
    for k, v in kv.items():
        print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")


mx.random.seed(21)
model = Matcher()
mx.eval(model.parameters())
val_x, val_t = render(ALL_LOTS, np.random.default_rng(77))
train_rng = np.random.default_rng(2024)

yaml_doc("untrained", recall_all_pct=recall(model, val_x, val_t, ALL_LOTS, False),
         chance_all_pct=100.0 / len(ALL_LOTS),
         recall_same_category_pct=recall(model, val_x, val_t, ALL_LOTS, True),
         chance_same_category_pct=100.0 / (N_MAT * N_ERA), logit_scale=model.scale().item())

stages = [("mixed", 500, 60, 3e-3), ("same_category", 400, 20, 1e-3)]
t_start = time.time()
step = 0
for name, n_steps, batch, peak in stages:
    sched = optim.step_decay(peak, 0.5, n_steps // 3)
    opt = optim.Adamax(learning_rate=sched)
    lg = nn.value_and_grad(model, loss_fn)
    window = []
    for i in range(n_steps):
        if name == "mixed":
            idx = train_rng.integers(0, len(ALL_LOTS), batch)
        else:
            cat = train_rng.integers(0, N_CAT)
            idx = cat * (N_MAT * N_ERA) + train_rng.permutation(N_MAT * N_ERA)[:batch]
        x, t = render(ALL_LOTS[idx], train_rng)
        loss, grads = lg(model, x, t)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        step += 1
        window.append(loss.item())
        if (i + 1) % 100 == 0:
            yaml_doc("train", stage=name, step=step, stage_step=i + 1,
                     lr=float(opt.learning_rate.item()), infonce=float(np.mean(window)),
                     log_batch=math.log(batch), grad_norm=float(gnorm.item()),
                     logit_scale=model.scale().item(),
                     seconds=round(time.time() - t_start, 1))
            window = []
    yaml_doc("stage_end", stage=name,
             recall_all_pct=recall(model, val_x, val_t, ALL_LOTS, False),
             chance_all_pct=100.0 / len(ALL_LOTS),
             recall_same_category_pct=recall(model, val_x, val_t, ALL_LOTS, True),
             chance_same_category_pct=100.0 / (N_MAT * N_ERA))
print("...")
