"""Change-ringing strike-timing model: predict each bell's strike error (ms)
from rope/handstroke features, mixing three towers with a sampling curriculum."""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TOWERS = ["stedman_st", "grandsire_rd", "surprise_major"]
rng = np.random.default_rng(11)
N_FEAT = 10


def make_tower(k, n):
    # harder towers: stronger nonlinearity and more noise
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    w = np.linspace(-1.0, 1.0, N_FEAT).astype(np.float32) * (1 + 0.3 * k)
    y = 25.0 * np.tanh(x @ w / 2.0) + 8.0 * k * np.sin(2.0 * x[:, 0]) * x[:, 1]
    y = y + rng.normal(scale=2.0 + 1.5 * k, size=n)
    return x, y.astype(np.float32)


data = {t: make_tower(k, 1500) for k, t in enumerate(TOWERS)}
held = {t: make_tower(k, 300) for k, t in enumerate(TOWERS)}
Y_SCALE = 25.0

# sampling weights per stage (curriculum): easy tower first, then mix in harder ones
STAGES = [
    {"name": "rounds", "steps": 150, "mix": [1.0, 0.0, 0.0]},
    {"name": "plain_course", "steps": 150, "mix": [0.4, 0.6, 0.0]},
    {"name": "full_peal", "steps": 250, "mix": [0.2, 0.3, 0.5]},
]


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower_emb = nn.Embedding(len(TOWERS), 8)
        self.l1 = nn.Linear(N_FEAT + 8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x, tid):
        h = mx.concatenate([x, self.tower_emb(tid)], axis=-1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(4)
model = StrikeNet()
WARM = 40
BASE_LR = 3e-3


def lr_at(step, total):
    # warmup from exactly 0, then cosine to 10%
    if step < WARM:
        return BASE_LR * step / WARM
    p = (step - WARM) / max(1, total - WARM)
    return BASE_LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


opt = optim.Adafactor(learning_rate=0.0, relative_step=False, scale_parameter=False)


def loss_fn(m, x, tid, y):
    return mx.mean(mx.square(m(x, tid) - y / Y_SCALE))


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step_fn(x, tid, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, tid, y)
    opt.update(model, g)
    return loss


def held_rmse_ms(k, t):
    x, y = held[t]
    pred = model(mx.array(x), mx.full((len(y),), k, dtype=mx.int32)) * Y_SCALE
    return math.sqrt(mx.mean(mx.square(pred - mx.array(y))).item())


baseline = {t: float(np.std(held[t][1])) for t in TOWERS}  # predict-the-mean rmse
BS = 64
for si, st in enumerate(STAGES):
    mix = np.array(st["mix"])
    for step in range(st["steps"]):  # step counter restarts every stage
        opt.learning_rate = lr_at(step, st["steps"])
        src = rng.choice(len(TOWERS), size=BS, p=mix)
        xs, ys = [], []
        for k in src:
            x, y = data[TOWERS[k]]
            j = rng.integers(len(y))
            xs.append(x[j]); ys.append(y[j])
        loss = step_fn(mx.array(np.stack(xs)), mx.array(src.astype(np.int32)), mx.array(np.array(ys)))
        mx.eval(loss, model.parameters(), opt.state)
        if step % 50 == 0 or step == st["steps"] - 1:
            rec = {"stage": st["name"], "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                   "batch_mse": round(loss.item(), 4)}
            for k, t in enumerate(TOWERS):
                rec[f"rmse_ms/{t}"] = round(held_rmse_ms(k, t), 2)
                rec[f"ref_ms/{t}"] = round(baseline[t], 2)
            print(json.dumps(rec), flush=True)

final = {t: held_rmse_ms(k, t) for k, t in enumerate(TOWERS)}
print("tower            rmse_ms   mean_pred_ms   ratio")
for t in TOWERS:
    print(f"{t:<16} {final[t]:7.2f}   {baseline[t]:12.2f}   {final[t] / baseline[t]:5.2f}")
