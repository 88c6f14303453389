"""Telegraph operator "fist" matching.

Each operator keys Morse with a personal rhythm (dot length, dash/dot ratio,
gap habit, drift). Two intercepted transmissions of the same operator should
map close together; a GRU encoder is trained with a symmetric InfoNCE loss.
Stage 1: clean receivers. Stage 2: noisy receivers and unknown start phase.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
T = 20            # key-down/key-up intervals per transmission
N_OPS = 32        # operators per batch (fresh operators every batch)
TAU = 0.1
STAGES = [
    {"name": "clean", "steps": 160, "noise": 0.08, "phase_shift": False},
    {"name": "static", "steps": 160, "noise": 0.18, "phase_shift": True},
]


def sample_operators(n):
    dot = mx.random.uniform(0.7, 1.3, (n, 1))         # dot length (units of 60 ms)
    ratio = mx.random.uniform(2.4, 3.6, (n, 1))       # dash/dot ratio
    gap = mx.random.uniform(0.8, 1.6, (n, 1))         # intra-char gap habit
    drift = mx.random.uniform(-0.01, 0.01, (n, 1))    # speeds up / slows down
    return dot, ratio, gap, drift


def transmit(ops, noise, phase_shift):
    dot, ratio, gap, drift = ops
    n = dot.shape[0]
    is_dash = mx.random.bernoulli(0.45, (n, T))
    t = mx.arange(T)[None, :]
    if phase_shift:
        t = t + mx.random.randint(0, 2, (n, 1))
    key_down = t % 2 == 0
    mark = mx.where(is_dash, dot * ratio, dot)
    space = dot * gap
    dur = mx.where(key_down, mark, space) * (1.0 + drift * t)
    dur = dur * mx.exp(noise * mx.random.normal((n, T)))
    return mx.log(dur)[..., None]  # (n, T, 1)


class FistEncoder(nn.Module):
    def __init__(self, hidden=32, dim=16):
        super().__init__()
        self.inp = nn.Linear(1, 16)
        self.gru = nn.GRU(16, hidden)
        self.head = nn.Linear(2 * hidden, dim)

    def __call__(self, x):
        h = self.gru(nn.tanh(self.inp(x)))
        feat = mx.concatenate([h[:, -1, :], mx.mean(h, axis=1)], axis=-1)
        z = self.head(feat)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(za.shape[0])
    loss = 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))
    return loss, logits


def recall_at_1(logits):
    return mx.mean((mx.argmax(logits, axis=1) == mx.arange(logits.shape[0])).astype(mx.float32))


model = FistEncoder()
mx.eval(model.parameters())
total = sum(s["steps"] for s in STAGES)
warm = 40
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 3e-4)], [warm])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, info_nce)

# every trainable tensor must receive a gradient
ops = sample_operators(N_OPS)
(_, _), g0 = loss_and_grad(model, transmit(ops, 0.08, False), transmit(ops, 0.08, False))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
assert not dead, dead



def heldout(st):
    accs = []
    for _ in range(4):
        ops = sample_operators(N_OPS)
        _, lg = info_nce(model, transmit(ops, st["noise"], st["phase_shift"]),
                         transmit(ops, st["noise"], st["phase_shift"]))
        accs.append(recall_at_1(lg).item())
    return round(100 * sum(accs) / len(accs), 1)


t0 = time.time()
for stage_idx, st in enumerate(STAGES):
    print(json.dumps({"stage_start": st["name"], "heldout_r@1": heldout(st), "chance": round(100.0 / N_OPS, 1)}))
    for step in range(1, st["steps"] + 1):
        ops = sample_operators(N_OPS)
        a = transmit(ops, st["noise"], st["phase_shift"])
        b = transmit(ops, st["noise"], st["phase_shift"])
        lr_now = opt.learning_rate.item()
        (loss, logits), grads = loss_and_grad(model, a, b)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, logits)
        if step == 1 or step % 32 == 0:
            print(json.dumps({
                "stage": st["name"], "step": step, "lr": round(lr_now, 6),
                "nce": round(loss.item(), 4), "r@1": round(100 * recall_at_1(logits).item(), 1),
                "chance": round(100.0 / N_OPS, 1), "nce_uniform": round(float(mx.log(mx.array(N_OPS)).item()), 4),
            }))
    print(json.dumps({"stage_end": st["name"], "heldout_r@1": heldout(st), "chance": round(100.0 / N_OPS, 1)}))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1)}))
