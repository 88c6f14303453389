"""Harbour almanac reader: extractive QA with unanswerable questions.

Context = CLS + entries "<berth> v v v ;". Question = one berth id.
If the berth is listed, the answer is its value span; otherwise the
gold span is (0, 0) on CLS. DrQA-style exact-match feature, two conv
blocks plus a max-pooled global vector, start/end heads.

Stage A trains on answerable questions only; stage B mixes in 40%
unanswerable ones (loss jumps at the switch). Learning rate warms up
from exactly 0 each stage. A checkpoint is written mid stage B and the
run resumes into a freshly built model and optimizer. CSV output.
"""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

V, CLS, END = 80, 0, 1
BERTH_LO, BERTH_HI = 2, 22
VAL_LO = 22
L = 24


def sample(rng, n, p_null):
    ctx = np.full((n, L), END, dtype=np.int32)
    q = np.zeros(n, dtype=np.int32)
    s = np.zeros(n, dtype=np.int32)
    e = np.zeros(n, dtype=np.int32)
    for i in range(n):
        berths = rng.choice(np.arange(BERTH_LO, BERTH_HI), size=5, replace=False)
        row, spans = [CLS], []
        for b in berths[:4]:
            k = rng.integers(1, 4)
            row.append(b)
            a = len(row)
            row.extend(rng.integers(VAL_LO, V, size=k).tolist())
            spans.append((a, len(row) - 1))
            row.append(END)
        row = row[:L]
        ctx[i, :len(row)] = row
        if rng.random() < p_null:
            q[i] = berths[4]
        else:
            j = rng.integers(0, 4)
            while spans[j][1] >= L:
                j = rng.integers(0, 4)
            q[i] = berths[j]
            s[i], e[i] = spans[j]
    return mx.array(ctx), mx.array(q), mx.array(s), mx.array(e)


class Reader(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(L, d)
        self.inp = nn.Linear(d + 1, d)
        self.c1 = nn.Conv1d(d, d, 3, padding=1)
        self.c2 = nn.Conv1d(d, d, 3, padding=1)
        self.glob = nn.Linear(d, d)
        self.head = nn.Linear(2 * d, 2)

    def __call__(self, ctx, q):
        match = (ctx == q[:, None]).astype(mx.float32)[..., None]
        h = self.emb(ctx) + self.pos(mx.arange(L))[None]
        h = nn.relu(self.inp(mx.concatenate([h, match], axis=-1)))
        h = h + nn.relu(self.c1(h))
        h = h + nn.relu(self.c2(h))
        g = mx.broadcast_to(nn.relu(self.glob(h.max(axis=1)))[:, None], h.shape)
        out = self.head(mx.concatenate([h, g], axis=-1))
        return out[..., 0], out[..., 1]


def loss_fn(model, ctx, q, s, e):
    ls, le = model(ctx, q)
    return (nn.losses.cross_entropy(ls, s) + nn.losses.cross_entropy(le, e)).mean() / 2


def predict(model, ctx, q, margin):
    ls, le = model(ctx, q)
    ls, le = np.array(ls), np.array(le)
    null = ls[:, 0] + le[:, 0]
    best, bs, be = np.full(len(ls), -1e9), np.zeros(len(ls), int), np.zeros(len(ls), int)
    for a in range(1, L):
        for b in range(a, min(a + 4, L)):
            sc = ls[:, a] + le[:, b]
            m = sc > best
            best[m], bs[m], be[m] = sc[m], a, b
    is_null = null + margin > best
    bs[is_null], be[is_null] = 0, 0
    return bs, be


def em(model, data, margin=0.0):
    ctx, q, s, e = data
    ps, pe = predict(model, ctx, q, margin)
    return 100.0 * np.mean((ps == np.array(s)) & (pe == np.array(e)))


def lr_at(step, peak, warm, total):
    if step < warm:
        return peak * step / warm
    return peak * 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, total - warm)))


def make(seed):
    mx.random.seed(seed)
    model = Reader()
    mx.eval(model.parameters())
    return model, optim.Adam(learning_rate=0.0)


def run_stage(name, model, opt, rng, p_null, start, total, peak, val, ckpt=None, stop=None):
    step_fn = nn.value_and_grad(model, loss_fn)
    for t in range(start, total):
        opt.learning_rate = lr_at(t, peak, 40, total)
        batch = sample(rng, 32, p_null)
        loss, grads = step_fn(model, *batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if t % 60 == 0 or t == total - 1:
            print(f"{name},{t},{float(opt.learning_rate):.5f},{loss.item():.4f},{em(model, val):.1f}")
        if stop is not None and t + 1 == stop:
            flat = dict(tree_flatten(model.parameters()))
            flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
            mx.save_safetensors(ckpt, flat)
            print(f"# checkpoint at {name} step {t + 1}, {len(flat)} tensors")
            return t + 1
    return total


def main():
    rng = np.random.default_rng(7)
    val_a = sample(np.random.default_rng(101), 400, 0.0)
    val_b = sample(np.random.default_rng(202), 400, 0.4)
    null_share = 100.0 * np.mean(np.array(val_b[2]) == 0)
    print(f"# baseline: always-null EM on mixed val = {null_share:.1f}")
    print("stage,step,lr,batch_loss,val_em")
    model, opt = make(0)
    run_stage("A", model, opt, rng, 0.0, 0, 300, 3e-3, val_a)

    ckpt = os.path.join(tempfile.mkdtemp(), "reader.safetensors")
    opt = optim.Adam(learning_rate=0.0)
    nxt = run_stage("B", model, opt, rng, 0.4, 0, 420, 2e-3, val_b, ckpt=ckpt, stop=200)

    model, opt = make(99)
    flat = mx.load(ckpt)
    model.update(tree_unflatten([(k, v) for k, v in flat.items() if not k.startswith("opt.")]))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten([(k[4:], v) for k, v in flat.items() if k.startswith("opt.")])
    print(f"# resumed into a new model, val EM {em(model, val_b):.1f}")
    run_stage("B", model, opt, rng, 0.4, nxt, 420, 2e-3, val_b)

    print("margin,val_em_mixed")
    for m in (-2.0, 0.0, 2.0):
        print(f"{m:+.1f},{em(model, val_b, m):.1f}")
    test = sample(np.random.default_rng(303), 600, 0.4)
    print(f"# test EM {em(model, test):.1f} vs always-null {100.0 * np.mean(np.array(test[2]) == 0):.1f}")


if __name__ == "__main__":
    main()
