# River ferry: will a crossing run late (3 classes: on time / late / cancelled) from 7 synthetic
# readings. Five simulated deck terminals each compute gradients on their own shard; the update is
# signSGD with MAJORITY VOTE written by hand. Terminal 4 sends flipped signs on purpose (a faulty
# uplink); the vote out-numbers it. Two stages: stage 2 halves the step and adds weight decay.
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)
rng = np.random.default_rng(5)

FEATS = ["river_flow", "wind", "fog", "queue_len", "tide", "crew_short", "hour_sin"]


def make(n):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    z = 1.3 * x[:, 0] + 0.9 * x[:, 1] * (x[:, 2] > 0) + 0.7 * x[:, 3] - 0.5 * x[:, 4] + 0.8 * x[:, 5]
    z = z + 0.6 * np.sin(3 * x[:, 6]) + rng.normal(scale=0.5, size=n)
    y = np.digitize(z, [0.6, 2.2]).astype(np.int32)
    return mx.array(x), mx.array(y)


X_tr, y_tr = make(10000)
X_va, y_va = make(2000)
shards = np.array_split(rng.permutation(10000), 5)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Net()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, ce)

_, g = vg(model, X_tr[:128], y_tr[:128])
print(f"# gradient leaves {len(tree_flatten(g))}, zero leaves {[k for k, v in tree_flatten(g) if mx.all(v == 0).item()]}")
counts = np.bincount(np.array(y_va), minlength=3)
print(f"# class shares on valid: {np.round(100 * counts / counts.sum(), 1)} %  (majority baseline {100 * counts.max() / counts.sum():.1f} %)")


def vote_step(lr, wd):
    votes = None
    losses = []
    for w, shard in enumerate(shards):
        idx = mx.array(rng.choice(shard, size=64, replace=False))
        loss, grads = vg(model, X_tr[idx], y_tr[idx])
        s = tree_map(mx.sign, grads)
        if w == 4:
            s = tree_map(lambda v: -v, s)
        votes = s if votes is None else tree_map(mx.add, votes, s)
        losses.append(loss)
    params = model.trainable_parameters()
    model.update(tree_map(lambda p, v: p - lr * (mx.sign(v) + wd * p), params, votes))
    mean_loss = mx.mean(mx.stack(losses))
    mx.eval(model.parameters(), mean_loss)
    return mean_loss.item()


def evaluate():
    logits = model(X_va)
    acc = mx.mean(mx.argmax(logits, axis=1) == y_va).item()
    return ce(model, X_va, y_va).item(), 100 * acc


stages = [("stage-1", 600, 2e-3, 0.0), ("stage-2", 600, 1e-3, 1e-2)]
tic = time.perf_counter()
step = 0
print(f"{'stage':>8} {'step':>5} {'lr':>8} {'train_ce':>9} {'valid_ce':>9} {'valid_acc%':>10}")
for name, n, lr, wd in stages:
    run = []
    for _ in range(n):
        step += 1
        run.append(vote_step(lr, wd))
        if step % 100 == 0:
            vce, vacc = evaluate()
            print(f"{name:>8} {step:5d} {lr:8.1e} {np.mean(run):9.4f} {vce:9.4f} {vacc:10.2f}")
            run = []
vce, vacc = evaluate()
print(f"# finished {step} vote steps in {time.perf_counter() - tic:.1f}s, valid accuracy {vacc:.2f} %")
