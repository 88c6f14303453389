# Barbershop quartet "ringing chord" tuner: predict how many cents each voice
# (bass, baritone, lead, tenor) should sit away from equal temperament.
# Stage A trains on plain triads, stage B adds the 7th / diminished chords.
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

# just-intonation offsets (cents vs 12-TET) of chord tones, root first
CHORDS = {
    "major":      [0.0, 0.0, +2.0, -13.7],
    "minor":      [0.0, 0.0, +2.0, +15.6],
    "barber7":    [0.0, +2.0, -13.7, -31.2],
    "dom7_open":  [0.0, -13.7, +2.0, -31.2],
    "dim7":       [0.0, +15.6, -17.5, -33.1],
    "halfdim":    [0.0, +15.6, -17.5, +17.6],
}
TRIADS = ["major", "minor"]
VOWELS = ["ah", "oo", "ee", "oh"]


def sample(names, n):
    xs, ys = [], []
    for _ in range(n):
        c = random.choice(names)
        v = random.randrange(4)
        root = random.uniform(-6, 6)          # semitones from Bb2
        tempo = random.uniform(0.3, 1.0)      # sustained vs. moving
        onehot = [1.0 if k == c else 0.0 for k in CHORDS]
        vo = [1.0 if i == v else 0.0 for i in range(4)]
        # made-up law: sustained chords lock closer to JI, 'ee' pulls tenor sharp
        lock = 1.0 - 0.5 * tempo
        y = [lock * o for o in CHORDS[c]]
        y[3] += 3.0 * vo[2] - 1.5 * vo[1]
        y[0] += 0.4 * root
        y = [t + random.gauss(0, 1.0) for t in y]
        xs.append(onehot + vo + [root / 6.0, tempo])
        ys.append(y)
    return mx.array(xs), mx.array(ys) / 10.0   # train in decicents


class Tuner(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


model = Tuner(len(CHORDS) + 4 + 2)
mx.eval(model.parameters())

warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, 540, 3e-4)], [warm])
opt = optim.Adamax(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)

# audit once: every trainable tensor must receive gradient
xa, ya = sample(list(CHORDS), 64)
_, g0 = step_fn(model, xa, ya)
for name, g in tree_flatten(g0):
    print(json.dumps({"audit": name, "grad_l2": round(mx.linalg.norm(g).item(), 5)}))

all_val_x, all_val_y = sample(list(CHORDS), 600)
base_pred = mx.broadcast_to(mx.mean(all_val_y, axis=0), all_val_y.shape)


def report(stage, it, lr, tr_loss):
    pred = model(all_val_x)
    err_c = mx.abs(pred - all_val_y) * 10.0
    mae = mx.mean(err_c).item()
    ring = mx.mean(mx.all(err_c < 5.0, axis=1).astype(mx.float32)).item() * 100
    base = (mx.mean(mx.abs(base_pred - all_val_y)) * 10.0).item()
    print(json.dumps({"stage": stage, "it": it, "lr": round(lr, 6), "huber": round(tr_loss, 4),
                      "val_mae_cents": round(mae, 2), "ref_mean_guess_cents": round(base, 2),
                      "ringing_pct": round(ring, 1)}))


for stage, names, iters in [("A_triads", TRIADS, 200), ("B_full_chart", list(CHORDS), 400)]:
    it = 0
    while it < iters:
        x, y = sample(names, 48)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        it += 1
        if it == 1 or it % 50 == 0:
            report(stage, it, opt.learning_rate.item(), loss.item())
print(json.dumps({"done": True, "steps": opt.step.item()}))
