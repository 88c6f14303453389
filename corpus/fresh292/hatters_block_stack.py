# Millinery workshop: predict how much a wool-felt hood shrinks (%) on the
# steam block from six shop-floor readings. The network is grown in depth
# during training (trained blocks are stacked, new copies start as identity),
# the lower half is held fixed for a while, then everything is tuned together.
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TRAIN, N_VALID = 6000, 1500
FEATURES = ["steam_min", "felt_density", "wool_share", "block_tension", "hood_grams", "humidity"]


def make_rows(n):
    steam = rng.uniform(2, 14, n)
    dens = rng.normal(0.32, 0.04, n)
    wool = rng.uniform(0.55, 1.0, n)
    tens = rng.uniform(0.5, 3.0, n)
    grams = rng.normal(95, 12, n)
    hum = rng.uniform(35, 85, n)
    shrink = (
        6.0 * (1 - np.exp(-steam / 5.0)) * (0.6 + wool)
        - 9.0 * (dens - 0.32)
        + 0.9 * np.tanh(tens - 1.6) * (hum / 60.0)
        + 0.015 * (grams - 95)
        + rng.normal(0, 0.35, n)
    )
    X = np.stack([steam, dens, wool, tens, grams, hum], 1)
    return X.astype(np.float32), shrink.astype(np.float32)


Xtr, ytr = make_rows(N_TRAIN)
Xva, yva = make_rows(N_VALID)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
NOISE_RMSE = 0.35


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.down(nn.gelu(self.up(self.norm(h))))


class ShrinkNet(nn.Module):
    def __init__(self, d=32, depth=2):
        super().__init__()
        self.stem = nn.Linear(len(FEATURES), d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model):
    p = model(Xva)
    rmse = mx.sqrt(mx.mean((p - yva) ** 2)).item()
    within = (mx.abs(p - yva) < 0.5).astype(mx.float32).mean().item() * 100
    return rmse, within


def count(tree):
    return sum(v.size for _, v in tree_flatten(tree))


def snapshot(module):
    return [np.array(v) for _, v in tree_flatten(module.parameters())]


def drift(module, snap):
    now = [np.array(v) for _, v in tree_flatten(module.parameters())]
    return max(float(np.abs(a - b).max()) for a, b in zip(now, snap))


def doc(**kv):
    print("---")
    for k, v in kv.items():
        print(f"{k}: {v}")


def run_stage(model, opt, steps, name, report_every, t0, held=None):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, N_TRAIN, (128,))
        lr_now = float(opt.learning_rate.item())
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % report_every == 0:
            rmse, within = evaluate(model)
            fields = dict(
                stage=name, step=step, lr=f"{lr_now:.2e}",
                train_mse=f"{np.mean(window):.4f}", valid_rmse=f"{rmse:.4f}",
                within_half_point_pct=f"{within:.1f}", elapsed_s=f"{time.time() - t0:.1f}",
            )
            if held is not None:
                fields["held_part_drift"] = f"{max(drift(m, s) for m, s in held):.2e}"
            doc(**fields)
            window = []


t0 = time.time()
base_rmse = float(np.sqrt(np.mean((np.array(yva) - float(np.array(ytr).mean())) ** 2)))
doc(task="felt hood shrink (%)", rows_train=N_TRAIN, rows_valid=N_VALID,
    predict_mean_rmse=f"{base_rmse:.4f}", noise_floor_rmse=f"{NOISE_RMSE:.2f}")

model = ShrinkNet(depth=2)
mx.eval(model.parameters())
rmse0, within0 = evaluate(model)
doc(stage="untrained", depth=2, params=count(model.parameters()),
    valid_rmse=f"{rmse0:.4f}", within_half_point_pct=f"{within0:.1f}")

# stage 1: shallow network
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 500, 3e-4))
run_stage(model, opt, 500, "shallow", 125, t0)

# stage 2: stack trained blocks; new copies start as identity maps
before, _ = evaluate(model)
new_blocks = []
for b in model.blocks:
    c = copy.deepcopy(b)
    c.down.weight = mx.zeros_like(c.down.weight)
    c.down.bias = mx.zeros_like(c.down.bias)
    new_blocks.append(c)
model.blocks = model.blocks + new_blocks
mx.eval(model.parameters())
after, _ = evaluate(model)

model.freeze()
for b in model.blocks[2:]:
    b.unfreeze()
model.head.unfreeze()
lower = [model.stem] + model.blocks[:2]
lower_snaps = [snapshot(m) for m in lower]
doc(event="depth grown 2 -> 4", params=count(model.parameters()),
    trainable=count(model.trainable_parameters()),
    valid_rmse_before=f"{before:.4f}", valid_rmse_after=f"{after:.4f}",
    held_fixed="stem, blocks 0-1")

warm = optim.linear_schedule(0.0, 2e-3, 100)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(2e-3, 300, 2e-4)], [100]))


run_stage(model, opt, 400, "upper-only", 100, t0, held=list(zip(lower, lower_snaps)))

# stage 3: everything trainable, low learning rate
model.unfreeze()
doc(event="all parts released", trainable=count(model.trainable_parameters()))
opt = optim.AdamW(learning_rate=optim.cosine_decay(5e-4, 300, 5e-5), weight_decay=1e-4)
run_stage(model, opt, 300, "joint", 100, t0)

rmse, within = evaluate(model)
doc(final_valid_rmse=f"{rmse:.4f}", within_half_point_pct=f"{within:.1f}",
    predict_mean_rmse=f"{base_rmse:.4f}", noise_floor_rmse=f"{NOISE_RMSE:.2f}",
    total_s=f"{time.time() - t0:.1f}")
