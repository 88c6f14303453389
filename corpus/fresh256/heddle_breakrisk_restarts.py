# Weaving loom: classify yarn-break risk class (0..3) from tension-sensor summaries.
# Step-wise gradient accumulation helper, SGDR-style cosine restarts, running-metric meter.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
N_FEAT, N_CLS = 10, 4

def make_shift(n):
    x = rng.normal(0, 1, (n, N_FEAT)).astype(np.float32)
    score = 1.2 * x[:, 0] - 0.8 * x[:, 1] * x[:, 2] + 0.6 * np.abs(x[:, 3]) + 0.5 * np.sin(2 * x[:, 4])
    score = score + rng.normal(0, 0.45, n)
    y = np.digitize(score, [-0.9, 0.3, 1.4]).astype(np.int32)
    return x, y

xtr, ytr = make_shift(8000)
xte, yte = make_shift(2000)
majority = np.bincount(ytr).argmax()
base_acc = float((yte == majority).mean())

class RiskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96); self.l2 = nn.Linear(96, 96); self.out = nn.Linear(96, N_CLS)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))

class RunningMeter:
    def __init__(self):
        self.loss_sum = 0.0; self.hits = 0; self.seen = 0
    def update(self, loss, logits, y):
        n = y.shape[0]
        self.loss_sum += loss.item() * n
        self.hits += int((mx.argmax(logits, -1) == y).sum().item()); self.seen += n
    def read(self):
        return self.loss_sum / max(self.seen, 1), self.hits / max(self.seen, 1)

def loss_fn(m, x, y):
    logits = m(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), logits

mx.random.seed(5)
model = RiskNet()
micro, accum = 32, 4
steps_per_cycle = [60, 120, 240]  # cycle lengths in optimizer steps
sched = optim.join_schedules(
    [optim.cosine_decay(2e-2, steps_per_cycle[0], 1e-4),
     optim.cosine_decay(2e-2, steps_per_cycle[1], 1e-4),
     optim.cosine_decay(2e-2, steps_per_cycle[2], 1e-4)],
    [steps_per_cycle[0], steps_per_cycle[0] + steps_per_cycle[1]])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)

total_steps = sum(steps_per_cycle)
print(f"# majority-class baseline test acc\t{base_acc:.4f}")
print("step\tcycle\tlr\ttrain_ce\ttrain_acc\ttest_ce\ttest_acc\tsecs")
meter = RunningMeter(); t0 = time.time(); cursor = 0
perm = rng.permutation(len(xtr)); Xtr, Ytr = mx.array(xtr), mx.array(ytr)
for step in range(1, total_steps + 1):
    grads_sum = None
    lr_now = opt.learning_rate.item()
    for _ in range(accum):
        if cursor + micro > len(perm):
            perm = rng.permutation(len(xtr)); cursor = 0
        idx = mx.array(perm[cursor:cursor + micro]); cursor += micro
        (loss, logits), g = vg(model, Xtr[idx], Ytr[idx])
        grads_sum = g if grads_sum is None else tree_map(lambda a, b: a + b, grads_sum, g)
        mx.eval(grads_sum, loss, logits)
        meter.update(loss, logits, Ytr[idx])
    opt.update(model, tree_map(lambda a: a / accum, grads_sum))
    mx.eval(model.parameters(), opt.state)
    boundary = step in (60, 180, total_steps)
    if step % 30 == 0 or boundary:
        cycle = 1 if step <= 60 else (2 if step <= 180 else 3)
        tl, ta = meter.read(); meter = RunningMeter()
        te_logits = model(mx.array(xte))
        te_loss = nn.losses.cross_entropy(te_logits, mx.array(yte), reduction="mean").item()
        te_acc = (mx.argmax(te_logits, -1) == mx.array(yte)).mean().item()
        print(f"{step}\t{cycle}\t{lr_now:.5f}\t{tl:.4f}\t{ta:.4f}\t{te_loss:.4f}\t{te_acc:.4f}\t{time.time() - t0:.1f}")
print(f"# final test acc {te_acc:.4f} vs majority baseline {base_acc:.4f}")
