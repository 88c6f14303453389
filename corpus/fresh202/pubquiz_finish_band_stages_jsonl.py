"""Pub-quiz league night: predict where a team finishes (0 = podium, 1 = mid-table, 2 = bottom third)
from what the quizmaster knows before the first round.  Curriculum: first only the clear-cut teams,
then every team of every night."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
N = 6000
# team size, jokers played, minutes late for round one, share of league regulars,
# quizmaster difficulty (1-5), midweek night, age spread (yrs)
size = mx.random.randint(2, 9, (N,)).astype(mx.float32)
jokers = mx.random.randint(0, 7, (N,)).astype(mx.float32)
late = mx.clip(6 + 4 * mx.random.normal((N,)), 1, 25)
regulars = mx.random.uniform(shape=(N,))
diff = mx.random.randint(1, 6, (N,)).astype(mx.float32)
midweek = (mx.random.uniform(shape=(N,)) < 0.4).astype(mx.float32)
spread = mx.abs(12 * mx.random.normal((N,)))

skill = (0.35 * mx.minimum(size, 5) - 0.08 * mx.maximum(size - 5, 0) ** 2 + 1.6 * regulars
         - 0.18 * late - 0.45 * diff + 0.25 * midweek - 0.01 * spread + 0.15 * jokers
         - 0.12 * mx.maximum(jokers - 3, 0) ** 2)
noisy = skill + 0.45 * mx.random.normal((N,))
srt = mx.sort(noisy)
hi, lo = srt[int(0.62 * N)], srt[int(0.30 * N)]
y = mx.where(noisy > hi, 0, mx.where(noisy > lo, 1, 2)).astype(mx.int32)
margin = mx.minimum(mx.abs(skill - hi), mx.abs(skill - lo))  # distance to a class border

X = mx.stack([size, jokers, late, regulars, diff, midweek, spread], axis=1)
mu, sd = X[:4800].mean(axis=0), X[:4800].std(axis=0)
X = (X - mu) / sd
Xtr, ytr, mtr = X[:4800], y[:4800], margin[:4800]
Xva, yva = X[4800:], y[4800:]
majority = max((yva == k).sum().item() for k in range(3)) / yva.size


class FinishBandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 40)
        self.l2 = nn.Linear(40, 40)
        self.out = nn.Linear(40, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


model = FinishBandNet()
mx.eval(model.parameters())
BATCH = 64
stages = [("clear_cut", 0.9, 14), ("all_teams", 0.0, 22)]
steps_total = sum(int(((mtr > thr).sum().item() + BATCH - 1) // BATCH) * ep for _, thr, ep in stages)
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 60), optim.cosine_decay(4e-3, steps_total - 60, 2e-4)], [60])
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, Xtr[:BATCH], ytr[:BATCH])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_check", "zero_grad_params": dead,
                  "n_params": sum(v.size for _, v in tree_flatten(model.parameters()))}))

t0 = time.perf_counter()
for name, thr, epochs in stages:
    keep = mx.array([i for i, ok in enumerate((mtr > thr).tolist()) if ok])
    xs, ys = Xtr[keep], ytr[keep]
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(xs.shape[0])
        run, nb = 0.0, 0
        for s in range(0, xs.shape[0], BATCH):
            idx = perm[s:s + BATCH]
            loss, g = vg(model, xs[idx], ys[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        logits = model(Xva)
        vloss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        acc = (mx.argmax(logits, axis=1) == yva).mean().item()
        print(json.dumps({"stage": name, "epoch": ep, "n_rows": xs.shape[0], "lr": round(opt.learning_rate.item(), 6),
                          "train_xent": round(run / nb, 4), "val_xent": round(vloss, 4),
                          "val_acc_pct": round(100 * acc, 1), "majority_pct": round(100 * majority, 1)}))

print(json.dumps({"event": "done", "steps": opt.step.item(), "seconds": round(time.perf_counter() - t0, 2)}))
