"""Harbour signal-flag hoists: decide whether a hoist carries more 'pilot'
flags (id 5) than 'quarantine' flags (id 7).  Sequences of 4..14 flags are
LEFT-padded with id 0, positions count from the first real flag, a key-padding
bias hides the pads and the last column (always a real flag) is pooled.
Gradients are accumulated over 2 micro-batches; at step 120 the run is
checkpointed, rebuilt from disk and resumed.  4% of labels are flipped, so the
loss has a floor.  Output: one s-expression per report."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

PAD, VOCAB, MAXLEN = 0, 12, 14
rng = np.random.default_rng(11)
mx.random.seed(11)


def sx(tag, **kv):
    body = " ".join(f"(:{k} {v})" for k, v in kv.items())
    print(f"({tag} {body})")


def make(n):
    ids = np.full((n, MAXLEN), PAD, dtype=np.int32)
    y = np.zeros(n, dtype=np.int32)
    for i in range(n):
        k = int(rng.integers(4, MAXLEN + 1))
        row = rng.choice(np.arange(1, VOCAB), size=k, p=None)
        ids[i, MAXLEN - k:] = row
        a, b = int((row == 5).sum()), int((row == 7).sum())
        if a == b:
            row[-1] = 5 if rng.random() < 0.5 else 7
            ids[i, MAXLEN - k:] = row
            a, b = int((row == 5).sum()), int((row == 7).sum())
        lab = int(a > b)
        if rng.random() < 0.04:
            lab = 1 - lab
        y[i] = lab
    return mx.array(ids), mx.array(y)


class HoistReader(nn.Module):
    def __init__(self, d=32, h=4):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.n1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, h)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.out = nn.Linear(d, 2)

    def __call__(self, ids):
        real = (ids != PAD)
        first = MAXLEN - real.sum(axis=1, keepdims=True)
        pos = mx.maximum(mx.arange(MAXLEN)[None, :] - first, 0)
        x = self.tok(ids) + self.pos(pos)
        bias = mx.where(real, 0.0, -1e9)[:, None, None, :]
        y = self.n1(x)
        x = x + self.att(y, y, y, mask=bias)
        x = x + self.ff(self.n2(x))
        return self.out(x[:, -1, :])


def loss_fn(model, ids, y):
    return nn.losses.cross_entropy(model(ids), y, reduction="mean")


def evaluate(model, ids, y):
    logits = model(ids)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=-1) == y).astype(mx.float32).mean()
    return float(loss), 100.0 * float(acc)


def build(total, warm, peak):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 5e-5)], [warm])
    return HoistReader(), optim.Adam(learning_rate=sched), sched


TOTAL, WARM, PEAK, SAVE_AT, MICRO = 240, 40, 3e-3, 120, 2
t0 = time.perf_counter()
vx, vy = make(600)
base = 100.0 * max(float(vy.mean()), 1 - float(vy.mean()))
model, opt, sched = build(TOTAL, WARM, PEAK)
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)
vl, va = evaluate(model, vx, vy)
sx("start", params=sum(v.size for _, v in tree_flatten(model.parameters())),
   val_xent=f"{vl:.4f}", val_acc_pct=f"{va:.1f}", majority_pct=f"{base:.1f}")

ckdir = tempfile.mkdtemp()
step = 0
while step < TOTAL:
    step += 1
    acc_grads, acc_loss = None, 0.0
    for _ in range(MICRO):
        bx, by = make(16)
        loss, g = grad_fn(model, bx, by)
        acc_grads = g if acc_grads is None else tree_map(lambda a, b: a + b, acc_grads, g)
        acc_loss += float(loss)
    acc_grads = tree_map(lambda a: a / MICRO, acc_grads)
    if step == 1:
        zero = [k for k, v in tree_flatten(acc_grads) if float(mx.abs(v).max()) == 0.0]
        sx("audit", lr=f"{float(sched(0)):.6f}", zero_grad_tensors=len(zero))
    opt.update(model, acc_grads)
    mx.eval(model.parameters(), opt.state)
    if step % 40 == 0:
        vl, va = evaluate(model, vx, vy)
        sx("report", step=step, lr=f"{float(sched(step - 1)):.6f}", train_xent=f"{acc_loss / MICRO:.4f}",
           val_xent=f"{vl:.4f}", val_acc_pct=f"{va:.1f}", majority_pct=f"{base:.1f}")
    if step == SAVE_AT:
        before = evaluate(model, vx, vy)[0]
        model.save_weights(os.path.join(ckdir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        model, opt, sched = build(TOTAL, WARM, PEAK)
        model.load_weights(os.path.join(ckdir, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        grad_fn = nn.value_and_grad(model, loss_fn)
        after = evaluate(model, vx, vy)[0]
        sx("resumed", step=step, opt_step=int(opt.step), val_xent_delta=f"{after - before:.6f}")

vl, va = evaluate(model, vx, vy)
sx("final", val_xent=f"{vl:.4f}", val_acc_pct=f"{va:.1f}", majority_pct=f"{base:.1f}",
   label_noise_pct="4.0", seconds=f"{time.perf_counter() - t0:.1f}")
