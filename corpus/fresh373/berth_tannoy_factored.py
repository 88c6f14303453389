# Ferry-terminal tannoy announcements: word-window language model with a factorised
# embedding (V x 12 table + 12 -> 48 projection) whose output layer reuses both
# factors (tied), SGD + Nesterov on a triangular cyclical learning rate, right-padded
# announcements with pad targets masked out, and a checkpoint/resume half-way.
import math
import os
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

DESTS = ["brodick", "oban", "mallaig", "craignure", "tarbert", "stornoway", "lochboisdale", "castlebay"]
HOURS = [f"h{h:02d}" for h in range(6, 22)]
MINS = [f"m{m:02d}" for m in range(0, 60, 10)]
BERTHS = ["one", "two", "three", "four"]
WORDS = ["<pad>", "<bos>", "<eos>", "the", "sailing", "to", "will", "depart", "from", "berth",
         "passengers", "for", "please", "board", "at", "departure", "is", "cancelled"]
VOCAB = WORDS + DESTS + HOURS + MINS + BERTHS
ID = {w: i for i, w in enumerate(VOCAB)}
PAD, CTX, MAXT = 0, 4, 14


def announcement():
    d, h, m, b = random.choice(DESTS), random.choice(HOURS), random.choice(MINS), random.choice(BERTHS)
    kind = random.randrange(3)
    if kind == 0:
        s = f"the {h} {m} sailing to {d} will depart from berth {b}"
    elif kind == 1:
        s = f"passengers for {d} please board at berth {b} for the {h} {m} departure"
    else:
        s = f"the {h} {m} sailing to {d} is cancelled"
    return ["<bos>"] + s.split() + ["<eos>"]


def windows(n_lines):
    rows = np.full((n_lines, MAXT + 1), PAD, dtype=np.int32)
    for i in range(n_lines):
        ids = [ID[w] for w in announcement()]
        rows[i, : len(ids)] = ids
    padded = np.concatenate([np.full((n_lines, CTX - 1), PAD, np.int32), rows], axis=1)
    ctx = np.stack([padded[:, t : t + CTX] for t in range(MAXT)], axis=1)   # (N, T, CTX)
    tgt = rows[:, 1:]                                                        # (N, T)
    return mx.array(ctx.reshape(-1, CTX)), mx.array(tgt.reshape(-1))


# per-token entropy of the generator (template 3-way, hour 16, minute 6, place 8, berth 4)
h_full = math.log(3) + math.log(16) + math.log(6) + math.log(8) + math.log(4)
h_cancel = math.log(3) + math.log(16) + math.log(6) + math.log(8)
FLOOR = (2 * h_full + h_cancel) / (12 + 14 + 9)

tr_x, tr_y = windows(3000)
va_x, va_y = windows(600)
counts = np.bincount(np.array(tr_y), minlength=len(VOCAB))[1:].astype(np.float64)
p = counts / counts.sum()
UNIGRAM = float(-(p[p > 0] * np.log(p[p > 0])).sum())


class FactoredWindowLM(nn.Module):
    def __init__(self, vocab, rank=12, width=48, hidden=128):
        super().__init__()
        self.table = nn.Embedding(vocab, rank)
        self.up = nn.Linear(rank, width, bias=False)
        self.mix = nn.Sequential(nn.Linear(CTX * width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.out_bias = mx.zeros((vocab,))

    def __call__(self, ctx):
        e = self.up(self.table(ctx)).reshape(ctx.shape[0], -1)
        h = self.mix(e)
        return self.table.as_linear(h @ self.up.weight) + self.out_bias


def loss_fn(model, x, y):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    keep = (y != PAD).astype(mx.float32)
    return (ce * keep).sum() / keep.sum()


PEAK, HALF = 0.25, 100


def triangular(step):
    # 0 -> PEAK -> 0 every 2*HALF steps; step 0 has lr exactly 0
    pos = (step % (2 * HALF)).astype(mx.float32) / HALF
    return PEAK * (1.0 - mx.abs(pos - 1.0))


def build():
    m = FactoredWindowLM(len(VOCAB))
    mx.eval(m.parameters())
    o = optim.SGD(learning_rate=triangular, momentum=0.9, nesterov=True)
    return m, o


def logfmt(**kw):
    parts = []
    for k, v in kw.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, str) and " " in v:
            v = f'"{v}"'
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


model, opt = build()
step_grad = nn.value_and_grad(model, loss_fn)
T0 = time.time()
logfmt(level="info", msg="data ready", vocab=len(VOCAB), train_windows=tr_y.size,
       pad_share=float((np.array(tr_y) == PAD).mean()), floor_nats=FLOOR, unigram_nats=UNIGRAM)
logfmt(level="info", msg="report", step=0, val_nats=loss_fn(model, va_x, va_y).item(),
       floor_nats=FLOOR, unigram_nats=UNIGRAM)

TOTAL, CKPT, BATCH = 600, 300, 128
REPORT = {1, 50, 100, 400, 500, 600}
ckdir = tempfile.mkdtemp()
window = []
step = 0
while step < TOTAL:
    idx = mx.array(np.random.randint(0, tr_y.size, BATCH))
    lr_used = triangular(opt.step).item()
    loss, grads = step_grad(model, tr_x[idx], tr_y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    window.append(loss.item())
    if step == CKPT:
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        before = loss_fn(model, va_x, va_y).item()
        model, opt = build()
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        step_grad = nn.value_and_grad(model, loss_fn)
        after = loss_fn(model, va_x, va_y).item()
        logfmt(level="info", msg="checkpoint reloaded", step=step, opt_step=int(opt.step.item()),
               val_before=before, val_after=after)
    if step in REPORT:
        logfmt(level="info", msg="report", step=step, lr=lr_used,
               train_nats=float(np.mean(window)), val_nats=loss_fn(model, va_x, va_y).item(),
               floor_nats=FLOOR, unigram_nats=UNIGRAM, elapsed_s=round(time.time() - T0, 1))
        window = []

final = loss_fn(model, va_x, va_y).item()
logfmt(level="info", msg="done", steps=step, val_nats=final, gap_to_floor=final - FLOOR,
       elapsed_s=round(time.time() - T0, 1))
