import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# Mill-race sluice gate: classify gate state (seated / silted / warped / fouled)
# from 8 raw gauge readings taken along the race.
rng = np.random.default_rng(7)
N_TR, N_VA, D, K = 6000, 1500, 8, 4
scales = np.array([120.0, 0.4, 35.0, 3.0, 900.0, 1.0, 12.0, 0.05])
offsets = np.array([800.0, 2.0, -40.0, 10.0, 5000.0, 0.0, 60.0, 0.3])
W_true = rng.normal(size=(D, K))

def make(n):
    z = rng.normal(size=(n, D))
    logits = 2.2 * np.tanh(z @ W_true) + 0.6 * (z[:, :1] * z[:, 1:2])
    y = np.array([rng.choice(K, p=np.exp(l) / np.exp(l).sum()) for l in logits])
    x = z * scales + offsets
    return mx.array(x.astype(np.float32)), mx.array(y)

Xtr, Ytr = make(N_TR)
Xva, Yva = make(N_VA)

class GateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm(D)
        self.l1 = nn.Linear(D, 96)
        self.bn1 = nn.BatchNorm(96)
        self.l2 = nn.Linear(96, 96)
        self.bn2 = nn.BatchNorm(96)
        self.out = nn.Linear(96, K)

    def __call__(self, x):
        h = self.bn_in(x)
        h = nn.relu(self.bn1(self.l1(h)))
        h = nn.relu(self.bn2(self.l2(h)))
        return self.out(h)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def evaluate(m):
    m.eval()
    lg = m(Xva)
    l = nn.losses.cross_entropy(lg, Yva, reduction="mean").item()
    a = (mx.argmax(lg, axis=1) == Yva).astype(mx.float32).mean().item()
    m.train()
    return l, a

model = GateNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4)
grad_fn = nn.value_and_grad(model, loss_fn)

BS = 64
steps_per_epoch = N_TR // BS
E_PLAIN, E_SWA = 14, 10
CYCLE = steps_per_epoch  # one cyclic period per epoch in the averaging phase
LR_MAX, LR_SWA_HI, LR_SWA_LO = 0.08, 0.03, 0.002

counts = np.bincount(np.array(Yva), minlength=K)
print(f"val class shares: {np.round(counts / counts.sum(), 3).tolist()}  majority baseline acc={counts.max() / counts.sum():.3f}  uniform CE={math.log(K):.3f}")

def lr_at(step):
    total = E_PLAIN * steps_per_epoch
    warm = 2 * steps_per_epoch
    if step < warm:
        return LR_MAX * step / warm          # starts at exactly 0
    p = (step - warm) / (total - warm)
    return LR_MAX * 0.5 * (1 + math.cos(math.pi * p))

def run_epoch(lr_fn, step0):
    perm = mx.array(rng.permutation(N_TR))
    tot = 0.0
    step = step0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        opt.learning_rate = lr_fn(step)
        loss, g = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), model.state, opt.state, loss)
        tot += loss.item()
        step += 1
    return tot / steps_per_epoch, step

step = 0
print("phase=plain  schedule=warmup(0->0.08, 2 ep)+cosine")
for ep in range(E_PLAIN):
    lr0 = lr_at(step)
    tr, step = run_epoch(lr_at, step)
    vl, va = evaluate(model)
    print(f"  ep {ep+1:2d} lr_start={lr0:.4f} train_ce={tr:.4f} val_ce={vl:.4f} val_acc={va:.3f}")

# averaging phase: cyclic lr, restarts each epoch, snapshot at end of each cycle
def cyc(step_in_phase):
    t = (step_in_phase % CYCLE) / CYCLE
    return LR_SWA_HI * (1 - t) + LR_SWA_LO * t

swa = None
n_avg = 0
print("phase=averaging  schedule=cyclic 0.03->0.002, restart every epoch")
s = 0
for ep in range(E_SWA):
    tr, s = run_epoch(cyc, s)
    vl, va = evaluate(model)
    snap = {k: v for k, v in tree_flatten(model.trainable_parameters())}
    if swa is None:
        swa = dict(snap)
    else:
        swa = {k: (swa[k] * n_avg + snap[k]) / (n_avg + 1) for k in swa}
    n_avg += 1
    mx.eval(list(swa.values()))
    print(f"  cycle {ep+1:2d} train_ce={tr:.4f} snapshot val_ce={vl:.4f} val_acc={va:.3f} averaged={n_avg}")

last_l, last_a = evaluate(model)
model.load_weights(list(swa.items()), strict=False)
mx.eval(model.parameters())
pre_l, pre_a = evaluate(model)
print(f"averaged weights, stats carried over from last snapshot: val_ce={pre_l:.4f} val_acc={pre_a:.3f}")

# recompute BatchNorm running statistics for the averaged weights: reset, then
# forward passes in train mode with no parameter update, momentum set so the
# result is a plain mean over the recalibration batches
for name, m in model.named_modules():
    if isinstance(m, nn.BatchNorm):
        m.running_mean = mx.zeros_like(m.running_mean)
        m.running_var = mx.ones_like(m.running_var)
before = {k: v for k, v in tree_flatten(model.trainable_parameters())}
perm = mx.array(rng.permutation(N_TR))
n_b = N_TR // 256
bns = [m for _, m in model.named_modules() if isinstance(m, nn.BatchNorm)]
for b in range(n_b):
    for m in bns:
        m.momentum = 1.0 / (b + 1)
    model.train()
    model(Xtr[perm[b * 256:(b + 1) * 256]])
    mx.eval(model.state)
for m in bns:
    m.momentum = 0.1
after = {k: v for k, v in tree_flatten(model.trainable_parameters())}
drift = max(mx.abs(before[k] - after[k]).max().item() for k in before)
post_l, post_a = evaluate(model)
print(f"stat recalibration over {n_b} batches, trainable drift={drift:.1f}")
print(f"final  last-snapshot val_ce={last_l:.4f} acc={last_a:.3f} | averaged+recalibrated val_ce={post_l:.4f} acc={post_a:.3f} | majority acc={counts.max() / counts.sum():.3f}")
