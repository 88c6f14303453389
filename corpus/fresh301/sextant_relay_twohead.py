"""Pretraining a small window LM with two output heads (next token and the token after it)
on a synthetic relay-station code stream; training stops halfway, writes a checkpoint,
and a fresh process-like rebuild resumes from it."""
import json
import math
import os
import random
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(11)
mx.random.seed(11)

V = 24          # code words
CTX = 4         # tokens of context
# every code word is followed by one of two others, 50/50
SUCC = [random.sample([j for j in range(V) if j != i], 2) for i in range(V)]


def stream(n):
    t = random.randrange(V)
    out = [t]
    for _ in range(n - 1):
        t = random.choice(SUCC[t])
        out.append(t)
    return out


def windows(seq):
    xs, y1, y2 = [], [], []
    for i in range(len(seq) - CTX - 1):
        xs.append(seq[i:i + CTX])
        y1.append(seq[i + CTX])
        y2.append(seq[i + CTX + 1])
    return mx.array(xs), mx.array(y1), mx.array(y2)


X, Y1, Y2 = windows(stream(20000))
VX, VY1, VY2 = windows(stream(3000))

# exact entropy floors of the source (uniform stationary law by symmetry is not assumed)
P = [[0.0] * V for _ in range(V)]
for i, (a, b) in enumerate(SUCC):
    P[i][a] += 0.5
    P[i][b] += 0.5
pi = [1.0 / V] * V
for _ in range(500):
    pi = [sum(pi[i] * P[i][j] for i in range(V)) for j in range(V)]
P2 = [[sum(P[i][k] * P[k][j] for k in range(V)) for j in range(V)] for i in range(V)]
floor1 = math.log(2)
floor2 = sum(pi[i] * -sum(p * math.log(p) for p in P2[i] if p > 0) for i in range(V))


class TwoHead(nn.Module):
    def __init__(self, d=32, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.trunk = nn.Sequential(nn.Linear(CTX * d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.next1 = nn.Linear(hidden, V)
        self.next2 = nn.Linear(hidden, V)

    def __call__(self, x):
        h = self.trunk(self.emb(x).reshape(x.shape[0], -1))
        return self.next1(h), self.next2(h)


def losses(model, x, y1, y2):
    a, b = model(x)
    return nn.losses.cross_entropy(a, y1, reduction="mean"), nn.losses.cross_entropy(b, y2, reduction="mean")


def loss_fn(model, x, y1, y2):
    l1, l2 = losses(model, x, y1, y2)
    return l1 + 0.5 * l2


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), lambda s: mx.array(3e-3)], [60]
    )
    return optim.RMSprop(learning_rate=sched, alpha=0.95)


def report(tag, step, model, opt, train_mean):
    l1, l2 = losses(model, VX, VY1, VY2)
    l1, l2 = l1.item(), l2.item()
    print(f"- {tag}:")
    print(f"    step: {step}")
    print(f"    lr: {opt.learning_rate.item():.2e}")
    print(f"    train_total: {train_mean}")
    print(f"    val_next1: {l1:.4f}   # floor {floor1:.4f}, gap {l1 - floor1:+.4f}")
    print(f"    val_next2: {l2:.4f}   # floor {floor2:.4f}, gap {l2 - floor2:+.4f}")


def train(model, opt, start, stop, log_every=100):
    vg = nn.value_and_grad(model, loss_fn)
    n = X.shape[0]
    acc = []
    for step in range(start + 1, stop + 1):
        idx = mx.array(random.sample(range(n), 64))
        loss, grads = vg(model, X[idx], Y1[idx], Y2[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if step % log_every == 0:
            report("eval", step, model, opt, f"{sum(acc) / len(acc):.4f}")
            acc = []


HALF, TOTAL = 300, 600
print(f"# relay code stream: {V} words, 2 successors each, context {CTX}")
print(f"# entropy floors: next1 {floor1:.4f} nats, next2 {floor2:.4f} nats, uniform {math.log(V):.4f}")

model = TwoHead()
opt = make_opt()
mx.eval(model.parameters())
opt.init(model.trainable_parameters())
report("start", 0, model, opt, "null")
train(model, opt, 0, HALF)

ckpt = tempfile.mkdtemp(None, "relay_ckpt_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": HALF}, f)
probe = loss_fn(model, VX[:256], VY1[:256], VY2[:256]).item()
print(f"# checkpoint written at step {HALF}: {sorted(os.listdir(ckpt))}")
del model, opt

model = TwoHead()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    start = json.load(f)["step"]
mx.eval(model.parameters(), opt.state)
again = loss_fn(model, VX[:256], VY1[:256], VY2[:256]).item()
print(f"# resumed at step {start} (optimizer step {opt.step.item()}), probe loss {probe:.6f} -> {again:.6f}")
train(model, opt, start, TOTAL)

l1, l2 = losses(model, VX, VY1, VY2)
print(f"# done: val_next1 {l1.item():.4f} vs floor {floor1:.4f}, val_next2 {l2.item():.4f} vs floor {floor2:.4f}")
shutil.rmtree(ckpt)
