"""Vineyard leaf-wetness loggers: downy-mildew infection risk per night.

Each night log is a variable-length run (8..40 quarter-hour readings) of
(leaf wetness, air temperature, relative humidity); the logger stops whenever
the battery saver kicks in, so nights have different lengths.  Three risk
classes come from a made-up wet-degree-hours rule with 5% of labels flipped.
A one-block attention encoder with a key-padding bias and a masked mean pool.
Warm restarts (three cosine cycles, the lr jumps back up at each restart),
a checkpoint after cycle two that a fresh process-like session resumes from,
and a silent final cycle.  Reports are YAML documents.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

MAXLEN, FEAT, CLASSES = 40, 3, 3
rng = np.random.default_rng(11)


def simulate(n):
    lengths = rng.integers(8, MAXLEN + 1, size=n)
    x = np.zeros((n, MAXLEN, FEAT), dtype=np.float32)
    y = np.zeros(n, dtype=np.int32)
    for i, L in enumerate(lengths):
        t = np.arange(L)
        onset = rng.integers(0, L)
        wet = (t >= onset).astype(np.float32) * rng.uniform(0.5, 1.0)
        wet = np.clip(wet + rng.normal(0, 0.08, L), 0, 1)
        temp = rng.uniform(8, 24) - 0.08 * t + rng.normal(0, 0.4, L)
        rh = np.clip(70 + 25 * wet + rng.normal(0, 3, L), 40, 100)
        favourable = ((temp > 11) & (temp < 22)).astype(np.float32)
        score = float((wet * favourable).sum()) / 4.0  # wet-degree hours, roughly
        cls = 0 if score < 2.0 else (1 if score < 4.5 else 2)
        if rng.uniform() < 0.05:
            cls = int(rng.integers(0, CLASSES))
        x[i, :L, 0] = wet
        x[i, :L, 1] = (temp - 15) / 5
        x[i, :L, 2] = (rh - 80) / 12
        y[i] = cls
    return x, y, lengths.astype(np.int32)


x_tr, y_tr, l_tr = simulate(5000)
x_va, y_va, l_va = simulate(1000)


class NightEncoder(nn.Module):
    def __init__(self, dims=32, heads=4):
        super().__init__()
        self.inp = nn.Linear(FEAT, dims)
        self.pos = nn.Embedding(64, dims)
        self.norm1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.norm2 = nn.LayerNorm(dims)
        self.ff = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(), nn.Linear(2 * dims, dims))
        self.head = nn.Linear(dims, CLASSES)

    def __call__(self, x, lengths):
        T = x.shape[1]
        valid = mx.arange(T)[None, :] < lengths[:, None]  # (B, T)
        bias = mx.where(valid, 0.0, -1e9)[:, None, None, :]  # keys only
        h = self.inp(x) + self.pos(mx.arange(T))
        a = self.norm1(h)
        h = h + self.attn(a, a, a, mask=bias)
        h = h + self.ff(self.norm2(h))
        w = valid.astype(h.dtype)[..., None]
        pooled = (h * w).sum(axis=1) / mx.maximum(w.sum(axis=1), 1.0)
        return self.head(pooled)


def loss_fn(model, x, lengths, y):
    return nn.losses.cross_entropy(model(x, lengths), y, reduction="mean")


CYCLE, CYCLES, BATCH, PEAK, FLOOR = 150, 3, 64, 3e-3, 5e-5


def lr_at(step):  # step counts from 0, restarts every CYCLE steps
    k = step % CYCLE
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1 + np.cos(np.pi * k / CYCLE))


def accuracy(model, x, y, lengths, pad_to=MAXLEN):
    xb = np.zeros((x.shape[0], pad_to, FEAT), dtype=np.float32)
    xb[:, :MAXLEN] = x
    logits = model(mx.array(xb), mx.array(lengths))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == mx.array(y))
    return float(loss), float(acc), logits


def doc(**fields):
    print("---")
    for k, v in fields.items():
        print(f"{k}: {v}")


majority = float(np.mean(y_va == np.bincount(y_tr).argmax()))
wet_count = (x_va[:, :, 0] > 0.5).sum(1)
rule_pred = np.digitize(wet_count, [8, 18])
rule_acc = float(np.mean(rule_pred == y_va))


class Session:
    def __init__(self, seed):
        mx.random.seed(seed)
        self.model = NightEncoder()
        mx.eval(self.model.parameters())
        self.opt = optim.Adam(learning_rate=PEAK)
        self.step_fn = nn.value_and_grad(self.model, loss_fn)
        self.step = 0

    def run(self, until, gen, report):
        window = []
        while self.step < until:
            self.opt.learning_rate = lr_at(self.step)
            idx = gen.integers(0, x_tr.shape[0], size=BATCH)
            loss, grads = self.step_fn(self.model, mx.array(x_tr[idx]), mx.array(l_tr[idx]), mx.array(y_tr[idx]))
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            window.append(float(loss))
            self.step += 1
            if report and (self.step % 50 == 0 or self.step % CYCLE == 1):
                vl, va, _ = accuracy(self.model, x_va, y_va, l_va)
                doc(step=self.step, cycle=(self.step - 1) // CYCLE + 1, lr=f"{lr_at(self.step - 1):.2e}",
                    train_ce_recent=round(float(np.mean(window[-50:])), 4), valid_ce=round(vl, 4),
                    valid_acc=round(va, 4), baseline_majority=round(majority, 4),
                    baseline_wet_rule=round(rule_acc, 4), secs=round(time.perf_counter() - t0, 1))

    def save(self, folder):
        self.model.save_weights(os.path.join(folder, "model.safetensors"))
        state = dict(tree_flatten(self.opt.state))
        state["__step__"] = mx.array(self.step)
        mx.save_safetensors(os.path.join(folder, "opt.safetensors"), state)

    def load(self, folder):
        self.model.load_weights(os.path.join(folder, "model.safetensors"))
        state = mx.load(os.path.join(folder, "opt.safetensors"))
        self.step = int(state.pop("__step__").item())
        self.opt.state = tree_unflatten(list(state.items()))
        mx.eval(self.model.parameters(), self.opt.state)


t0 = time.perf_counter()
gen = np.random.default_rng(5)
first = Session(seed=0)
l0, a0, _ = accuracy(first.model, x_va, y_va, l_va)
doc(event="start", train_nights=x_tr.shape[0], valid_nights=x_va.shape[0],
    night_lengths=f"{l_tr.min()}..{l_tr.max()}", class_counts=np.bincount(y_tr).tolist(),
    untrained_valid_ce=round(l0, 4), untrained_valid_acc=round(a0, 4),
    baseline_majority=round(majority, 4), baseline_wet_rule=round(rule_acc, 4),
    label_noise="5% flipped, accuracy cannot reach 1.0")
first.run(2 * CYCLE, gen, report=True)

with tempfile.TemporaryDirectory() as tmp:
    first.save(tmp)
    _, _, ref_logits = accuracy(first.model, x_va[:64], y_va[:64], l_va[:64])
    del first
    second = Session(seed=123)
    second.load(tmp)
    _, _, new_logits = accuracy(second.model, x_va[:64], y_va[:64], l_va[:64])
    doc(event="resumed", from_step=second.step,
        max_logit_gap_after_reload=float(mx.max(mx.abs(ref_logits - new_logits))))

_, _, l40 = accuracy(second.model, x_va[:128], y_va[:128], l_va[:128], pad_to=MAXLEN)
_, _, l64 = accuracy(second.model, x_va[:128], y_va[:128], l_va[:128], pad_to=64)
doc(event="padding check", max_logit_change_40_vs_64_slots=f"{float(mx.max(mx.abs(l40 - l64))):.2e}")

doc(event="final cycle runs quietly", steps=CYCLE)
second.run(3 * CYCLE, gen, report=False)
vl, va, _ = accuracy(second.model, x_va, y_va, l_va)
doc(event="done", step=second.step, valid_ce=round(vl, 4), valid_acc=round(va, 4),
    baseline_majority=round(majority, 4), baseline_wet_rule=round(rule_acc, 4),
    secs=round(time.perf_counter() - t0, 1))
