# Ice hockey skills camp: predict radar-gun slapshot speed (km/h) from player / stick readings.
# Three curriculum stages: stationary pucks -> moving pucks -> one-timers off a pass (harder, noisier).
# Each stage warms up from lr = 0, the stick-flex embedding is frozen in stage 3 on purpose,
# and every stage early-stops on validation MAE and restores its best weights.
import json
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("radar")

rng = np.random.default_rng(2024)
FLEX = [65, 75, 85, 95, 105]          # stick flex ratings


def shots(n, stage):
    # features: body mass kg, wrist strength, stick length cm, approach speed km/h, release angle deg
    mass = rng.normal(82, 9, n)
    wrist = rng.normal(0, 1, n)
    length = rng.normal(155, 6, n)
    approach = rng.uniform(0, 8, n) if stage == 0 else rng.uniform(8, 25, n)
    angle = rng.normal(12, 4, n)
    flex = rng.integers(0, 5, n)
    ideal_flex = np.clip(np.round((mass - 60) / 9), 0, 4)
    speed = (95 + 0.45 * (mass - 82) + 7 * wrist + 0.4 * (length - 155) + 0.9 * approach
             - 0.08 * (angle - 12) ** 2 - 3.5 * np.abs(flex - ideal_flex))
    noise = [2.0, 3.5, 5.0][stage]
    if stage == 2:  # one-timers: timing on the pass matters a lot
        timing = rng.normal(0, 1, n)
        speed = speed + 6 * np.tanh(timing) * (wrist > 0) - 4 * np.abs(timing)
    speed = speed + rng.normal(0, noise, n)
    x = np.stack([(mass - 82) / 9, wrist, (length - 155) / 6, (approach - 12) / 7, (angle - 12) / 4], 1)
    return mx.array(x.astype(np.float32)), mx.array(flex.astype(np.int32)), mx.array(((speed - 100) / 15).astype(np.float32))


class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.flex = nn.Embedding(5, 4)
        self.body = nn.Sequential(nn.Linear(9, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU())
        self.head = nn.Linear(32, 1)

    def __call__(self, x, f):
        h = mx.concatenate([x, self.flex(f)], axis=-1)
        return self.head(self.body(h)).squeeze(-1)


def huber(model, x, f, y):
    return nn.losses.huber_loss(model(x, f), y, delta=0.5, reduction="mean")


mx.random.seed(5)
model = ShotNet()
mx.eval(model.parameters())

STAGES = [("stationary", 0, 3e-3), ("moving", 1, 2e-3), ("one-timer", 2, 1.5e-3)]
BATCH = 64
for sname, sid, peak in STAGES:
    Xtr, Ftr, Ytr = shots(3000, sid)
    Xva, Fva, Yva = shots(600, sid)
    if sid == 2:
        model.flex.freeze()
    warm = 120
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, 2500, 1e-4)], [warm])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(model, huber)
    state = [model.state, opt.state]

    def train_step(x, f, y):
        loss, g = vg(model, x, f, y)
        opt.update(model, g)
        return loss

    step = mx.compile(train_step, inputs=state, outputs=state)

    best, best_params, bad, it = float("inf"), None, 0, 0
    base_mae = float(mx.abs(Yva - Ytr.mean()).mean()) * 15
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(3000))
        tot = 0.0
        for b in range(0, 3000, BATCH):
            ids = perm[b:b + BATCH]
            loss = step(Xtr[ids], Ftr[ids], Ytr[ids])
            mx.eval(state, loss)
            tot += loss.item() * ids.shape[0]
            it += 1
        mae = float(mx.abs(model(Xva, Fva) - Yva).mean()) * 15
        rec = {"stage": sname, "epoch": epoch, "lr": round(float(opt.learning_rate), 6),
               "train_huber": round(tot / 3000, 4), "val_mae_kmh": round(mae, 3), "baseline_mae_kmh": round(base_mae, 3)}
        print(json.dumps(rec))
        if mae < best - 1e-3:
            best, bad = mae, 0
            best_params = tree_map(lambda p: mx.array(p), model.trainable_parameters())
        else:
            bad += 1
            if bad >= 5:
                log.info("stage %s: no val gain for 5 epochs, stop at epoch %d", sname, epoch)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    mae = float(mx.abs(model(Xva, Fva) - Yva).mean()) * 15
    log.info("stage %s restored best: val MAE %.2f km/h (mean-guess %.2f km/h, %.0f%% better), %d steps",
             sname, mae, base_mae, 100 * (1 - mae / base_mae), it)

n_frozen = sum(v.size for _, v in tree_flatten(model.parameters())) - sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info("done; %d frozen params (flex embedding)", n_frozen)
