"""Museum drawer triage: trilobite order from 10 morphometric measurements.

Drawers arrive as a stream from three quarries in turn; each quarry's
preparators measure a little differently (shifted / rescaled / mixed
features), so the input distribution drifts. No quarry label is given to
the model (task-free continual learning).

Dark Experience Replay++ : a reservoir buffer keeps (x, y, logits-at-insert).
loss = CE(stream) + ALPHA * MSE(f(x_buf), stored logits) + BETA * CE(f(x_buf'), y_buf')

The session is interrupted after the second quarry: weights, optimizer
state and the replay buffer are written to disk, a fresh process-like
setup reloads them and the stream continues.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

ORDERS = ["Redlichiida", "Corynexochida", "Asaphida", "Phacopida", "Proetida"]
N_FEAT = 10
BUF = 400
ALPHA, BETA = 0.3, 0.5
BATCH = 32
STEPS_PER_QUARRY = 300

mx.random.seed(0)
rng = np.random.default_rng(11)
proto = rng.normal(0, 1.0, size=(len(ORDERS), N_FEAT))


def quarry_view(q):
    r = np.random.default_rng(100 + q)
    A = np.eye(N_FEAT) + r.normal(0, 0.25, size=(N_FEAT, N_FEAT))
    b = r.normal(0, 0.6, size=N_FEAT)
    return A, b


VIEWS = [quarry_view(q) for q in range(3)]


def drawers(q, n):
    y = rng.integers(0, len(ORDERS), size=n)
    z = proto[y] + rng.normal(0, 0.75, size=(n, N_FEAT))
    A, b = VIEWS[q]
    return (z @ A + b).astype(np.float32), y.astype(np.int32)


held_out = [drawers(q, 1000) for q in range(3)]


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, len(ORDERS))

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


class Reservoir:
    def __init__(self, size):
        self.x = np.zeros((size, N_FEAT), np.float32)
        self.y = np.zeros(size, np.int32)
        self.z = np.zeros((size, len(ORDERS)), np.float32)
        self.size, self.seen = size, 0

    def add(self, x, y, z):
        for i in range(len(x)):
            if self.seen < self.size:
                j = self.seen
            else:
                j = rng.integers(0, self.seen + 1)
            if j < self.size:
                self.x[j], self.y[j], self.z[j] = x[i], y[i], z[i]
            self.seen += 1

    def sample(self, n):
        k = min(self.seen, self.size)
        idx = rng.integers(0, k, size=n)
        return self.x[idx], self.y[idx], self.z[idx]

    def save(self, path):
        np.savez(path, x=self.x, y=self.y, z=self.z, seen=self.seen)

    @classmethod
    def load(cls, path):
        d = np.load(path)
        r = cls(len(d["y"]))
        r.x, r.y, r.z, r.seen = d["x"], d["y"], d["z"], int(d["seen"])
        return r


def der_loss(net, x, y, bx1, bz1, bx2, by2, use_buf):
    ce = nn.losses.cross_entropy(net(x), y, reduction="mean")
    if not use_buf:
        return ce, (ce, mx.array(0.0), mx.array(0.0))
    mse = mx.mean((net(bx1) - bz1) ** 2)
    ce_b = nn.losses.cross_entropy(net(bx2), by2, reduction="mean")
    return ce + ALPHA * mse + BETA * ce_b, (ce, mse, ce_b)


def report(net, upto):
    parts = []
    for q in range(upto + 1):
        x, y = held_out[q]
        logits = net(mx.array(x))
        acc = float(mx.mean(mx.argmax(logits, 1) == mx.array(y)).item())
        ll = float(mx.mean(-nn.losses.cross_entropy(logits, mx.array(y))).item())
        majority = np.bincount(y).max() / len(y)
        parts.append(f"q{q} acc {acc:.3f} (majority {majority:.3f}) loglik {ll:+.3f}")
    return " | ".join(parts)


def run_quarry(q, net, opt, buf, verbose):
    fn = nn.value_and_grad(net, der_loss)
    logs = []
    for step in range(1, STEPS_PER_QUARRY + 1):
        x, y = drawers(q, BATCH)
        use_buf = buf.seen >= BATCH
        if use_buf:
            bx1, _, bz1 = buf.sample(BATCH)
            bx2, by2, _ = buf.sample(BATCH)
        else:
            bx1 = bx2 = x
            bz1 = np.zeros((BATCH, len(ORDERS)), np.float32)
            by2 = y
        (loss, parts), grads = fn(net, mx.array(x), mx.array(y), mx.array(bx1),
                                  mx.array(bz1), mx.array(bx2), mx.array(by2), use_buf)
        grads, _ = optim.clip_grad_norm(grads, 5.0)
        opt.update(net, grads)
        logits_now = net(mx.array(x))
        mx.eval(net.parameters(), opt.state, loss, logits_now, *parts)
        buf.add(x, y, np.array(logits_now))
        logs.append([p.item() for p in parts])
        if verbose and step % 75 == 0:
            ce, mse, ce_b = np.mean(logs[-75:], axis=0)
            print(f"  q{q} step {step:3d}  stream ce {ce:.4f}  logit-mse {mse:.4f}  buffer ce {ce_b:.4f}")
    return np.mean(logs[-75:], axis=0)


t0 = time.time()
net = Triage()
mx.eval(net.parameters())
opt = optim.Adam(learning_rate=1e-3)
buf = Reservoir(BUF)

print("quarry 0")
run_quarry(0, net, opt, buf, verbose=True)
print("  held-out:", report(net, 0))
print("quarry 1 (summary only)")
ce, mse, ce_b = run_quarry(1, net, opt, buf, verbose=False)
print(f"  last 75 steps: stream ce {ce:.4f}  logit-mse {mse:.4f}  buffer ce {ce_b:.4f}")
print("  held-out:", report(net, 1))

with tempfile.TemporaryDirectory() as d:
    net.save_weights(os.path.join(d, "triage.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    buf.save(os.path.join(d, "reservoir.npz"))
    before = report(net, 1)
    print(f"checkpoint written: buffer holds {min(buf.seen, BUF)} of {buf.seen} seen drawers")

    net = Triage()
    net.load_weights(os.path.join(d, "triage.safetensors"))
    opt = optim.Adam(learning_rate=1e-3)
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    buf = Reservoir.load(os.path.join(d, "reservoir.npz"))
    mx.eval(net.parameters())
    after = report(net, 1)
    print("resumed: held-out identical after reload:", before == after)

print("quarry 2")
run_quarry(2, net, opt, buf, verbose=True)
print("  held-out:", report(net, 2))
print(f"optimizer step counter {int(opt.state['step'].item())}, done in {time.time() - t0:.1f}s")
