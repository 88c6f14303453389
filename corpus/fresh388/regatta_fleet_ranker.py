# Regatta scoring desk: from each boat's elapsed time and handicap rating, predict its finishing
# place (corrected time = elapsed / rating) in the fleet. A set transformer with no positions,
# trained on growing fleet sizes, one stage per size.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MAX_FLEET = 8
STAGES = [4, 6, 8]
STEPS_PER_STAGE = 140
BATCH = 64
rng = np.random.default_rng(2389)


def fleet_batch(n_boats, batch):
    rating = rng.uniform(0.85, 1.15, (batch, n_boats))
    elapsed = rng.normal(3600, 180, (batch, n_boats)) * rating / 1.0
    elapsed = elapsed + rng.normal(0, 40, (batch, n_boats))
    corrected = elapsed / rating
    place = np.argsort(np.argsort(corrected, axis=1), axis=1)
    feats = np.stack([(elapsed - 3600) / 200, (rating - 1.0) / 0.1, (corrected - 3600) / 60], -1)
    return mx.array(feats.astype(np.float32)), mx.array(place.astype(np.int32))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, h):
        a = self.ln1(h)
        h = h + self.att(a, a, a)
        return h + self.ff(self.ln2(h))


class FleetRanker(nn.Module):
    def __init__(self, d=32, heads=4, depth=2):
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(3, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.out = nn.Linear(d, MAX_FLEET)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)


def loss_fn(model, x, y):
    logits = model(x)
    n = x.shape[1]
    logits = logits[..., :n]  # only places that exist in this fleet
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, n_boats):
    x, y = fleet_batch(n_boats, 500)
    logits = model(x)[..., :n_boats]
    pred = mx.argmax(logits, axis=-1)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    boat_acc = mx.mean(pred == y).item()
    fleet_acc = mx.mean(mx.all(pred == y, axis=1)).item()
    return ce, boat_acc, fleet_acc


model = FleetRanker()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters()))
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

print(f"fleet ranker: {n_params} parameters, stages {STAGES}, {STEPS_PER_STAGE} steps each, batch {BATCH}")
t0 = time.time()
global_step = 0
summary = []
for s, n_boats in enumerate(STAGES):
    ce0, acc0, _ = evaluate(model, n_boats)
    print("")
    print("+" + "-" * 62 + "+")
    print("| " + f"STAGE {s + 1}/{len(STAGES)}  fleet of {n_boats:2d} boats  chance place accuracy {100 / n_boats:5.1f}%".ljust(61) + "|")
    print("| " + f"entering: ce {ce0:.3f} (uniform {math.log(n_boats):.3f})  place acc {100 * acc0:5.1f}%".ljust(61) + "|")
    print("+" + "-" * 62 + "+")
    # each stage: warm up from exactly 0 over 30 steps, then cosine down to 10% of the peak
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 30), optim.cosine_decay(3e-3, STEPS_PER_STAGE - 30, 3e-4)], [30])
    window = []
    for k in range(STEPS_PER_STAGE):
        opt.learning_rate = sched(k)
        x, y = fleet_batch(n_boats, BATCH)
        loss, g = vg(model, x, y)
        g, _ = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        global_step += 1
        if (k + 1) % 35 == 0:
            print(f"  step {k + 1:3d}/{STEPS_PER_STAGE} (total {global_step:4d})  lr {float(sched(k)):.2e}"
                  f"  ce {np.mean(window):.3f}")
            window = []
    ce1, acc1, fl1 = evaluate(model, n_boats)
    summary.append((n_boats, ce0, ce1, acc1, fl1))
    print(f"  stage done: ce {ce1:.3f}  place acc {100 * acc1:5.1f}%  whole fleet exact {100 * fl1:5.1f}%"
          f"  [{time.time() - t0:.1f}s]")

print("")
print("final check on every fleet size (same weights; earlier sizes are not replayed after their stage)")
print(f"{'boats':>5} {'ce':>7} {'uniform':>8} {'place acc':>10} {'chance':>7} {'fleet exact':>12}")
for n_boats in STAGES:
    ce, acc, fl = evaluate(model, n_boats)
    print(f"{n_boats:5d} {ce:7.3f} {math.log(n_boats):8.3f} {100 * acc:9.1f}% {100 / n_boats:6.1f}% {100 * fl:11.1f}%")
print(f"done in {time.time() - t0:.1f}s, {global_step} optimizer steps")
