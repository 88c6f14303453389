"""Bus timetable lines: a one-block character transformer learns lines such as
'R12 dep 07:15 arr 07:42 via MKT;'. Every report it samples fresh lines with a
hand-written key/value cache (top-k + temperature) and checks how many parse.
Training runs in two sessions: the first writes a checkpoint, the second
builds fresh objects, restores them and carries on.
"""
import json
import os
import re
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
STOPS = ["MKT", "STN", "HSP", "UNI", "PRK", "DOC", "MLL"]
ROUTES = {f"R{n}": (rng.integers(8, 40), STOPS[i % len(STOPS)]) for i, n in enumerate([3, 7, 12, 21, 48])}


def make_line():
    r = list(ROUTES)[rng.integers(len(ROUTES))]
    dur, via = ROUTES[r]
    h, m = int(rng.integers(5, 23)), int(rng.integers(0, 12)) * 5
    a = h * 60 + m + int(dur)
    return f"{r} dep {h:02d}:{m:02d} arr {a // 60 % 24:02d}:{a % 60:02d} via {via};"


CORPUS = "".join(make_line() for _ in range(3000))
VALID = "".join(make_line() for _ in range(120))
CHARS = sorted(set(CORPUS + VALID))
STOI = {c: i for i, c in enumerate(CHARS)}
V = len(CHARS)
DATA = np.array([STOI[c] for c in CORPUS], dtype=np.int32)
VDATA = np.array([STOI[c] for c in VALID], dtype=np.int32)
CTX, D, HEADS = 32, 48, 4
LINE_RE = re.compile(r"^R\d+ dep (\d\d):(\d\d) arr (\d\d):(\d\d) via [A-Z]{3}$")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.proj = nn.Linear(D, D, bias=False)
        self.ln2 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)

    def __call__(self, x, mask=None, cache=None):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda t: t.reshape(B, -1, HEADS, D // HEADS).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        if cache is not None:
            k = mx.concatenate([cache[0], k], axis=2)
            v = mx.concatenate([cache[1], v], axis=2)
        att = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // HEADS) ** -0.5, mask=mask)
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, L, D))
        x = x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))
        return x, (k, v)


class TimetableLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(512, D)
        self.block = Block()
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def __call__(self, idx, offset=0, cache=None):
        L = idx.shape[1]
        x = self.emb(idx) + self.pos(mx.arange(offset, offset + L))
        mask = "causal" if cache is None else None
        x, new_cache = self.block(x, mask=mask, cache=cache)
        return self.head(self.ln(x)), new_cache


def loss_fn(model, x, y):
    logits, _ = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def batch(data, n):
    starts = rng.integers(0, len(data) - CTX - 1, size=n)
    x = np.stack([data[s:s + CTX] for s in starts])
    y = np.stack([data[s + 1:s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


def sample_lines(model, n_lines=40, temp=0.8, top_k=5):
    """Generate with the key/value cache, one character at a time."""
    prompt = mx.array([[STOI[";"]]] * n_lines)
    logits, cache = model(prompt)
    out = [[] for _ in range(n_lines)]
    pos = 1
    for _ in range(40):
        lg = logits[:, -1, :] / temp
        kth = mx.sort(lg, axis=-1)[:, -top_k][:, None]
        lg = mx.where(lg < kth, -1e9, lg)
        nxt = mx.random.categorical(lg)
        for i, t in enumerate(nxt.tolist()):
            out[i].append(CHARS[t])
        logits, cache = model(nxt[:, None], offset=pos, cache=cache)
        pos += 1
    lines = ["".join(o).split(";")[0] for o in out]
    ok = 0
    for ln in lines:
        m = LINE_RE.match(ln)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60 and int(m.group(4)) < 60:
            ok += 1
    return ok / n_lines, lines[0]


def val_loss(model):
    xs, ys = [], []
    for s in range(0, len(VDATA) - CTX - 1, CTX):
        xs.append(VDATA[s:s + CTX]); ys.append(VDATA[s + 1:s + CTX + 1])
    return loss_fn(model, mx.array(np.stack(xs)), mx.array(np.stack(ys))).item()


def train(model, opt, first, last, sched):
    vg = nn.value_and_grad(model, loss_fn)
    run = []
    for step in range(first, last + 1):
        x, y = batch(DATA, 16)
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 100 == 0:
            frac, example = sample_lines(model)
            print(f"- step: {step}")
            print(f"  lr: {float(sched(opt.step).item()):.2e}")
            print(f"  train_nats_per_char: {np.mean(run):.4f}")
            print(f"  valid_nats_per_char: {val_loss(model):.4f}")
            print(f"  sampled_lines_parse_pct: {100 * frac:.1f}")
            print(f"  example: {json.dumps(example)}")
            run = []


def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 50), optim.cosine_decay(3e-3, 550, 1e-4)], [50])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01), sched


def main():
    mx.random.seed(5)
    uni = np.bincount(DATA, minlength=V) / len(DATA)
    print(f"# vocab {V}, corpus {len(DATA)} chars, unigram entropy {-(uni * np.log(uni + 1e-12)).sum():.3f} nats")
    print("session: 1")
    model = TimetableLM()
    opt, sched = make_opt()
    mx.eval(model.parameters())
    train(model, opt, 1, 300, sched)
    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "w.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    v_before = val_loss(model)
    del model, opt
    print("session: 2")
    model = TimetableLM()
    model.load_weights(os.path.join(ckdir, "w.safetensors"))
    opt, sched = make_opt()
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    print(f"# restored valid {val_loss(model):.4f} (saved {v_before:.4f}), optimizer step {opt.step.item()}")
    train(model, opt, 301, 600, sched)
    print("done")


if __name__ == "__main__":
    main()
