"""Harbour ferry dispatch log: next-berth language model with a cached evaluator.

A made-up first-order source over 12 berth codes (known entropy rate) is
modelled by a one-block causal transformer.  Validation runs in eval mode with
no gradient, twice: a full teacher-forced pass and an incremental pass that
feeds one token at a time through a key/value cache; the two must agree.
Training stops at step 120, writes weights and optimizer state, and a fresh
model + optimizer resume from those files to step 240.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

V, T, D = 12, 24, 32


def make_source(rng):
    P = rng.dirichlet(np.full(V, 0.35), size=V)
    w, vecs = np.linalg.eig(P.T)
    pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    h_rate = -(pi[:, None] * P * np.log(P + 1e-12)).sum()
    h_uni = -(pi * np.log(pi)).sum()
    return P, pi, h_rate, h_uni


def sample(P, pi, n, rng):
    out = np.zeros((n, T + 1), dtype=np.int32)
    out[:, 0] = rng.choice(V, size=n, p=pi)
    cum = P.cumsum(1)
    for t in range(1, T + 1):
        u = rng.random(n)[:, None]
        out[:, t] = np.minimum((u > cum[out[:, t - 1]]).sum(1), V - 1)
    return out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.LayerNorm(D)
        self.q = nn.Linear(D, D, bias=False)
        self.k = nn.Linear(D, D, bias=False)
        self.v = nn.Linear(D, D, bias=False)
        self.o = nn.Linear(D, D, bias=False)
        self.n2 = nn.LayerNorm(D)
        self.ff1 = nn.Linear(D, 4 * D)
        self.ff2 = nn.Linear(4 * D, D)

    def __call__(self, x, cache=None):
        h = self.n1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        if cache is not None:
            if cache["k"] is not None:
                k = mx.concatenate([cache["k"], k], axis=1)
                v = mx.concatenate([cache["v"], v], axis=1)
            cache["k"], cache["v"] = k, v
        L, S = q.shape[1], k.shape[1]
        scores = (q @ k.transpose(0, 2, 1)) / math.sqrt(D)
        qpos = mx.arange(S - L, S)[:, None]
        kpos = mx.arange(S)[None, :]
        scores = mx.where(kpos <= qpos, scores, -1e9)
        x = x + self.o(mx.softmax(scores, axis=-1) @ v)
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class BerthLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.block = Block()
        self.norm = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, tok, start=0, cache=None):
        pos = mx.arange(start, start + tok.shape[1])
        x = self.emb(tok) + self.pos(pos)
        return self.out(self.norm(self.block(x, cache)))


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def full_nll(model, seq):
    model.eval()
    v = loss_fn(model, seq)
    mx.eval(v)
    model.train()
    return v.item()


def cached_nll(model, seq):
    model.eval()
    cache = {"k": None, "v": None}
    total = mx.array(0.0)
    for t in range(T):
        logits = model(seq[:, t:t + 1], start=t, cache=cache)
        total = total + nn.losses.cross_entropy(logits[:, 0], seq[:, t + 1], reduction="sum")
        mx.eval(total, cache["k"], cache["v"])
    model.train()
    return total.item() / (seq.shape[0] * T)


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 30), optim.cosine_decay(4e-3, 210, 2e-4)], [30])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def train_span(model, opt, data, rng, start, stop, bs, emit, val, h_rate, h_uni):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start + 1, stop + 1):
        idx = mx.array(rng.integers(0, data.shape[0], size=bs))
        loss, grads = vg(model, data[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 40 == 0 or step == 1:
            vf = full_nll(model, val)
            vc = cached_nll(model, val)
            emit(step, float(opt.learning_rate.item()), np.mean(window), vf, vc, h_rate, h_uni)
            window = []


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    P, pi, h_rate, h_uni = make_source(rng)
    train = mx.array(sample(P, pi, 6000, rng))
    val = mx.array(sample(P, pi, 200, rng))

    print("step\tlr\ttrain_nll\tval_nll_full\tval_nll_cached\tabs_gap\tentropy_floor\tunigram")

    def emit(step, lr, tr, vf, vc, hr, hu):
        print(f"{step}\t{lr:.2e}\t{tr:.4f}\t{vf:.4f}\t{vc:.4f}\t{abs(vf - vc):.1e}\t{hr:.4f}\t{hu:.4f}")

    model = BerthLM()
    opt = make_opt()
    vf0 = full_nll(model, val)
    emit(0, 0.0, float("nan"), vf0, cached_nll(model, val), h_rate, h_uni)
    train_span(model, opt, train, rng, 0, 120, 32, emit, val, h_rate, h_uni)

    d = tempfile.mkdtemp()
    model.save_weights(os.path.join(d, "model.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"# stopped at step 120, wrote {d}")

    model = BerthLM()
    model.load_weights(os.path.join(d, "model.safetensors"))
    opt = make_opt()
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    print(f"# resumed: optimizer step {opt.state['step'].item()}, lr {float(opt.learning_rate.item()):.2e}, "
          f"val_nll_full {full_nll(model, val):.4f}")
    train_span(model, opt, train, rng, 120, 240, 32, emit, val, h_rate, h_uni)
    print(f"# done in {time.time() - t0:.1f}s; excess over entropy floor "
          f"{full_nll(model, val) - h_rate:.4f} nats/token")


if __name__ == "__main__":
    main()
