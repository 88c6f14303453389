# Winery lab: a shared "nose" backbone is first trained to tell 4 grape varieties from 10
# GC-MS peak areas; then the backbone is FROZEN and a new head is trained (hand-written SGD
# over trainable_parameters) to flag TCA cork taint from the same readings.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
D = 10
centres = rng.normal(0, 1.2, (4, D))
taint_dir = rng.normal(0, 1, D); taint_dir /= np.linalg.norm(taint_dir)

def make(n):
    v = rng.integers(0, 4, n)
    X = centres[v] + rng.normal(0, 1.0, (n, D))
    score = 2.2 * (X @ taint_dir) + 0.8 * (v == 2) - 1.0 + rng.logistic(0, 1, n)
    return X.astype(np.float32), v.astype(np.int32), (score > 0).astype(np.float32)

Xtr, vtr, ttr = make(24000)
Xte, vte, tte = make(2000)
Xtr_m, Xte_m = mx.array(Xtr), mx.array(Xte)

def log(**kw):
    print(json.dumps(kw))

class Nose(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(D, 64)
        self.b = nn.Linear(64, 32)
    def __call__(self, x):
        return nn.relu(self.b(nn.relu(self.a(x))))

class Net(nn.Module):
    def __init__(self, backbone, n_out):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(32, n_out)
    def __call__(self, x):
        return self.head(self.backbone(x))

def grad_audit(grads, stage):
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
    log(event="grad_check", stage=stage, leaves=len(flat), zero_leaves=zero)

mx.random.seed(5)
log(event="data", train=len(vtr), test=len(vte), taint_rate_pct=round(100 * float(ttr.mean()), 1))

# ---- stage 1: variety classifier, Adam, backbone + head trained
var_net = Net(Nose(), 4)
opt = optim.Adam(learning_rate=1e-3)
def var_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
vg1 = nn.value_and_grad(var_net, var_loss)
vtr_m = mx.array(vtr)
t0 = time.time()
for epoch in range(1, 5):
    perm = rng.permutation(len(vtr)); tot = 0.0; nb = 0
    for s in range(0, len(perm), 100):
        idx = mx.array(perm[s:s + 100])
        loss, g = vg1(var_net, Xtr_m[idx], vtr_m[idx])
        if epoch == 1 and s == 0:
            grad_audit(g, "variety")
        opt.update(var_net, g)
        mx.eval(var_net.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    acc = float(mx.mean(mx.argmax(var_net(Xte_m), -1) == mx.array(vte)).item())
    log(event="epoch", stage="variety", epoch=epoch, train_ce=round(tot / nb, 4),
        test_acc_pct=round(100 * acc, 2), secs=round(time.time() - t0, 2))

# ---- stage 2: taint head on the frozen backbone, hand-written SGD with momentum
backbone = var_net.backbone
backbone.freeze()
frozen_before = tree_map(lambda p: mx.array(p), backbone.parameters())
taint_net = Net(backbone, 1)
taint_net.head.bias = mx.array([math.log(ttr.mean() / (1 - ttr.mean()))], dtype=mx.float32)
def taint_loss(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, reduction="mean")
vg2 = nn.value_and_grad(taint_net, taint_loss)
ttr_m, tte_m = mx.array(ttr), mx.array(tte)
vel = tree_map(mx.zeros_like, taint_net.trainable_parameters())
lr, mom = 0.005, 0.9

def test_metrics():
    logits = taint_net(Xte_m).squeeze(-1)
    ce = float(nn.losses.binary_cross_entropy(logits, tte_m, reduction="mean").item())
    missed = float(mx.sum((logits <= 0) & (tte_m > 0.5)).item() / max(1.0, tte.sum()))
    return ce, missed

ce0, miss0 = test_metrics()
log(event="untrained_head", test_bce=round(ce0, 4), missed_taint_pct=round(100 * miss0, 2))
log(event="trainable", leaves=[k for k, _ in tree_flatten(taint_net.trainable_parameters())])
for epoch in range(1, 13):
    perm = rng.permutation(len(ttr)); tot = 0.0; nb = 0
    for s in range(0, len(perm), 32):
        idx = mx.array(perm[s:s + 32])
        loss, g = vg2(taint_net, Xtr_m[idx], ttr_m[idx])
        if epoch == 1 and s == 0:
            grad_audit(g, "taint")
        vel = tree_map(lambda v, gg: mom * v + gg, vel, g)
        taint_net.update(tree_map(lambda p, v: p - lr * v, taint_net.trainable_parameters(), vel))
        mx.eval(taint_net.trainable_parameters(), vel, loss)
        tot += loss.item(); nb += 1
    ce, miss = test_metrics()
    log(event="epoch", stage="taint", epoch=epoch, train_bce=round(tot / nb, 4),
        test_bce=round(ce, 4), missed_taint_pct=round(100 * miss, 2), secs=round(time.time() - t0, 2))

drift = max(float(mx.abs(a - b).max().item()) for (_, a), (_, b) in
            zip(tree_flatten(frozen_before), tree_flatten(backbone.parameters())))
log(event="done", frozen_backbone_max_change=drift)
