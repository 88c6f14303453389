# Character-level LM pretrained from scratch on a continuous stream of harbour-master
# logbook lines. Stateful GRU with truncated backprop through time: 16 parallel
# streams, the hidden state is carried from one 24-char chunk to the next.
# The run is split in two sessions: session 1 saves a checkpoint, session 2 rebuilds
# everything from disk and continues with a fresh warm-restart schedule.
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
VESSELS = ["ARGO", "KESTREL", "MARLIN", "ORCA", "PUFFIN", "TERN"]
BERTHS = ["N1", "N2", "S1", "S4", "QUAY"]
ACTS = ["ARR", "DEP", "ANC"]
WINDS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]


def line(r):
    hh, mm = r.integers(0, 24), r.choice([0, 15, 30, 45])
    v = r.choice(VESSELS)
    a = r.choice(ACTS, p=[0.45, 0.45, 0.1])
    b = "ROADS" if a == "ANC" else r.choice(BERTHS)
    w = r.choice(WINDS)
    f = r.integers(1, 7)
    return f"{hh:02d}{mm:02d} {v} {a} {b} WIND {w}{f}\n"


text = "".join(line(rng) for _ in range(9000))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
V = len(chars)
split = int(0.9 * len(data))
train_ids, val_ids = data[:split], data[split:]
uni = np.bincount(train_ids, minlength=V) / len(train_ids)
unigram_nll = float(-np.log(uni[val_ids]).mean())
print(f"chars {len(data)}  vocab {V}  unigram {unigram_nll:.3f} nats/char ({unigram_nll / math.log(2):.3f} bpc)")

STREAMS, CHUNK = 16, 24


def streams(ids, n):
    per = len(ids) // n
    return mx.array(ids[: per * n].reshape(n, per))


train_s, val_s = streams(train_ids, STREAMS), streams(val_ids, 4)


class Logbook(nn.Module):
    def __init__(self, v, d=24, h=64):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.rnn = nn.GRU(d, h)
        self.out = nn.Linear(h, v)

    def __call__(self, x, h0):
        hs = self.rnn(self.emb(x), hidden=h0)
        return self.out(hs), hs[:, -1]


def chunk_loss(model, x, y, h0):
    logits, h_last = model(x, h0)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), h_last


def val_nll(model):
    h = mx.zeros((val_s.shape[0], 64))
    tot, n = 0.0, 0
    for s in range(0, val_s.shape[1] - CHUNK - 1, CHUNK):
        x, y = val_s[:, s:s + CHUNK], val_s[:, s + 1:s + CHUNK + 1]
        l, h = chunk_loss(model, x, y, h)
        tot += l.item() * x.size
        n += x.size
    return tot / n


def run_session(model, opt, steps, start_pos, label, print_every):
    lg = nn.value_and_grad(model, chunk_loss)
    h = mx.zeros((STREAMS, 64))
    pos = start_pos
    for it in range(steps):
        if pos + CHUNK + 1 >= train_s.shape[1]:
            pos, h = 0, mx.zeros((STREAMS, 64))
        x, y = train_s[:, pos:pos + CHUNK], train_s[:, pos + 1:pos + CHUNK + 1]
        (loss, h), grads = lg(model, x, y, mx.stop_gradient(h))
        grads, _ = optim.clip_grad_norm(grads, 0.5)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, h)
        pos += CHUNK
        if it % print_every == 0 or it == steps - 1:
            lr = opt.learning_rate.item()
            print(f"[{label}] step {it:3d}  lr {lr:.2e}  loss {loss.item():.3f}  bpc {loss.item() / math.log(2):.3f}")
    return pos


def schedule(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)], [warm])


ckpt_dir = tempfile.mkdtemp()
t0 = time.perf_counter()

# ---- session 1
mx.random.seed(5)
model = Logbook(V)
opt = optim.Adam(learning_rate=schedule(8e-3, 20, 180))
pos = run_session(model, opt, 180, 0, "s1", 30)
v1 = val_nll(model)
print(f"[s1] val {v1:.3f} nats/char  ppl {math.exp(v1):.2f}  vs unigram {v1 - unigram_nll:+.3f}")
model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "cursor.txt"), "w") as f:
    f.write(str(pos))
del model, opt

# ---- session 2: rebuild from disk, warm restart
model = Logbook(V)
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt = optim.Adam(learning_rate=schedule(4e-3, 20, 160))
saved = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
saved.pop("learning_rate", None)
saved.pop("step", None)
opt.init(model.trainable_parameters())
opt.state.update(saved)
with open(os.path.join(ckpt_dir, "cursor.txt")) as f:
    pos = int(f.read())
check = val_nll(model)
print(f"[s2] resumed at stream offset {pos}, val after reload {check:.3f} (saved {v1:.3f})")
run_session(model, opt, 160, pos, "s2", 30)
v2 = val_nll(model)
print(f"[s2] val {v2:.3f} nats/char  ppl {math.exp(v2):.2f}  bpc {v2 / math.log(2):.3f}  vs unigram {v2 - unigram_nll:+.3f}")
print(f"done in {time.perf_counter() - t0:.1f}s")
