"""Kelp farm longline health from buoy sensors, two farms with differently calibrated buoys.

Shared weights, one BatchNorm set per farm (each batch comes from one farm).
Lion with a linear warm-up from 0 and cosine decay. Tab-separated report.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_FEAT, N_CLS = 10, 3
CLASSES = ["healthy", "fouled", "slack"]
W_TRUE = rng.normal(size=(N_FEAT, N_CLS)).astype(np.float32)


def make_farm(n, gain, offset):
    z = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    logits = z @ W_TRUE + 0.6 * np.sin(2.0 * z[:, :3]) @ W_TRUE[:3]
    y = logits.argmax(1)
    flip = rng.random(n) < 0.10
    y[flip] = rng.integers(0, N_CLS, flip.sum())
    raw = z * gain + offset  # buoy units, never standardised
    return raw.astype(np.float32), y.astype(np.int32)


gain_a = rng.uniform(0.5, 2.0, N_FEAT)
off_a = rng.uniform(-1.0, 1.0, N_FEAT)
gain_b = rng.uniform(5.0, 40.0, N_FEAT)
off_b = rng.uniform(50.0, 300.0, N_FEAT)
farms = {
    0: make_farm(3000, gain_a, off_a),
    1: make_farm(3000, gain_b, off_b),
}
split = 2400
train = {f: (x[:split], y[:split]) for f, (x, y) in farms.items()}
val = {f: (mx.array(x[split:]), mx.array(y[split:])) for f, (x, y) in farms.items()}


class FarmBN(nn.Module):
    def __init__(self, dims, n_farms=2):
        super().__init__()
        self.bns = [nn.BatchNorm(dims, momentum=0.05) for _ in range(n_farms)]

    def __call__(self, x, farm):
        return self.bns[farm](x)


class LineNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(N_FEAT, 64)
        self.bn1 = FarmBN(64)
        self.fc2 = nn.Linear(64, 64)
        self.bn2 = FarmBN(64)
        self.out = nn.Linear(64, N_CLS)

    def __call__(self, x, farm):
        h = nn.relu(self.bn1(self.fc1(x), farm))
        h = nn.relu(self.bn2(self.fc2(h), farm))
        return self.out(h)


def loss_fn(model, x, y, farm):
    return nn.losses.cross_entropy(model(x, farm), y, reduction="mean")


def accuracy(model, farm, stats_from=None):
    x, y = val[farm]
    model.eval()
    pred = mx.argmax(model(x, farm if stats_from is None else stats_from), axis=1)
    model.train()
    return 100.0 * mx.mean(pred == y).item()


model = LineNet()
mx.eval(model.parameters())
STEPS, WARM, BS = 640, 40, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, WARM), optim.cosine_decay(3e-4, STEPS - WARM, 3e-5)],
    [WARM],
)
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

majority = {f: 100.0 * np.bincount(farms[f][1][split:]).max() / (3000 - split) for f in (0, 1)}
print("#farm A buoys: gains %.1f-%.1f  |  farm B buoys: gains %.1f-%.1f, offsets %.0f-%.0f"
      % (gain_a.min(), gain_a.max(), gain_b.min(), gain_b.max(), off_b.min(), off_b.max()))
print("#label flips 10%%: best reachable accuracy about 93%%; majority baselines A %.1f%%  B %.1f%%"
      % (majority[0], majority[1]))
print("step\tlr\ttrain_ce\tacc_A\tacc_B\tacc_B_with_A_stats")
print("%d\t%.2e\t-\t%.1f\t%.1f\t%.1f" % (0, 0.0, accuracy(model, 0), accuracy(model, 1), accuracy(model, 1, 0)))

window = []
order = {f: rng.permutation(split) for f in (0, 1)}
cursor = {0: 0, 1: 0}
for step in range(1, STEPS + 1):
    farm = step % 2
    if cursor[farm] + BS > split:
        order[farm] = rng.permutation(split)
        cursor[farm] = 0
    idx = order[farm][cursor[farm]:cursor[farm] + BS]
    cursor[farm] += BS
    xb, yb = mx.array(train[farm][0][idx]), mx.array(train[farm][1][idx])
    loss, grads = step_fn(model, xb, yb, farm)
    opt.update(model, grads)
    mx.eval(model.parameters(), model.state, opt.state, loss)
    window.append(loss.item())
    if step % 80 == 0:
        print("%d\t%.2e\t%.4f\t%.1f\t%.1f\t%.1f" % (
            step, opt.learning_rate.item(), float(np.mean(window)),
            accuracy(model, 0), accuracy(model, 1), accuracy(model, 1, 0)))
        window = []

print("#final: farm A %.1f%% (majority %.1f%%), farm B %.1f%% (majority %.1f%%)"
      % (accuracy(model, 0), majority[0], accuracy(model, 1), majority[1]))
