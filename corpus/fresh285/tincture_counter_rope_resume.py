"""Chat SFT for a pharmacy counter assistant.

Conversations (1-2 exchanges): the customer reads a refill code (2-4 digits),
the assistant repeats the code backwards, says "ok" and closes its turn with
<eot>.  Left-padded batches, RoPE attention with a key-padding mask, loss on
assistant tokens only (including every <eot>), linear warm-up from lr 0,
cosine decay, and a checkpoint / resume half way through.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PAD, BOS, USR, AST, EOT = 0, 1, 2, 3, 4
DIG = 5  # digits 0-9 -> ids 5..14
OK, REFILL, CODE = 15, 16, 17
V = 18
MAXLEN = 32

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_conv(r):
    toks, lab = [BOS], [0]
    for _ in range(r.integers(1, 3)):
        code = list(r.integers(0, 10, size=r.integers(2, 5)))
        user = [USR, REFILL, CODE] + [DIG + d for d in code] + [EOT]
        asst = [AST] + [DIG + d for d in reversed(code)] + [OK, EOT]
        toks += user + asst
        lab += [0] * len(user) + [0] + [1] * (len(asst) - 1)
    return toks, lab


def collate(convs):
    L = max(len(t) for t, _ in convs)
    x = np.full((len(convs), L), PAD, np.int32)
    m = np.zeros((len(convs), L), np.float32)
    real = np.zeros((len(convs), L), np.bool_)
    for i, (t, lab) in enumerate(convs):
        x[i, L - len(t):] = t          # left padding
        m[i, L - len(t):] = lab
        real[i, L - len(t):] = True
    return mx.array(x), mx.array(m), mx.array(real)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.n1 = nn.RMSNorm(d)
        self.n2 = nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // h)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, bias):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        q, k, v = self.rope(sh(q)), self.rope(sh(k)), sh(v)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.h) ** -0.5, mask=bias)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff(self.n2(x))


class CounterLM(nn.Module):
    def __init__(self, d=32, h=4, n=2):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.blocks = [Block(d, h) for _ in range(n)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, V, bias=False)

    def __call__(self, x, real):
        L = x.shape[1]
        idx = mx.arange(L)
        allowed = (idx[:, None] >= idx[None, :])[None] & (real[:, None, :] | mx.eye(L, dtype=mx.bool_)[None])
        bias = mx.where(allowed, 0.0, -1e9)[:, None].astype(mx.float32)
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, bias)
        return self.head(self.norm(h))


def token_nll(model, x, real):
    logits = model(x[:, :-1], real[:, :-1])
    return nn.losses.cross_entropy(logits, x[:, 1:], reduction="none")


def loss_fn(model, x, m, real):
    nll = token_nll(model, x, real)
    w = m[:, 1:]
    return (nll * w).sum() / w.sum()


def greedy_eval(model, convs):
    """Prompt = everything up to the last <ast>; score the generated reply."""
    exact = stopped = 0
    for t, _ in convs:
        cut = len(t) - 1 - t[::-1].index(AST)
        prompt, want = t[: cut + 1], t[cut + 1:]
        seq = [int(v) for v in prompt]
        for _ in range(8):
            x = mx.array([seq], dtype=mx.int32)
            nxt = int(mx.argmax(model(x, mx.ones(x.shape, dtype=mx.bool_))[0, -1]).item())
            seq.append(nxt)
            if nxt == EOT:
                break
        got = seq[len(prompt):]
        stopped += int(got[-1] == EOT)
        exact += int(got == [int(v) for v in want])
    return exact / len(convs), stopped / len(convs)


train = [make_conv(rng) for _ in range(3000)]
held = [make_conv(rng) for _ in range(96)]
hx, hm, hr = collate(held)
user_digit = ((hx[:, 1:] >= DIG) & (hx[:, 1:] < DIG + 10) & (hm[:, 1:] == 0)).astype(mx.float32)

STEPS, WARM, BS, PEAK = 200, 30, 24, 4e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-4)], [WARM])


def fresh():
    mdl = CounterLM()
    return mdl, optim.AdamW(learning_rate=sched, weight_decay=0.01)


model, opt = fresh()
mx.eval(model.parameters())
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}  vocab={V}  "
      f"uniform baseline ln(V)={math.log(V):.3f}  user-digit floor ln(10)={math.log(10):.3f}")


def make_step(model, opt):
    lg = nn.value_and_grad(model, loss_fn)

    def step(x, m, r):
        loss, g = lg(model, x, m, r)
        g, gn = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        return loss, gn
    return step


step_fn = make_step(model, opt)
ckdir = tempfile.mkdtemp()
order = rng.permutation(len(train))
ptr, t0 = 0, time.time()
for it in range(STEPS):
    if ptr + BS > len(order):
        order, ptr = rng.permutation(len(train)), 0
    x, m, r = collate([train[j] for j in order[ptr:ptr + BS]])
    ptr += BS
    lr_now = float(sched(mx.array(it)))
    loss, gn = step_fn(x, m, r)
    mx.eval(loss, gn, model.parameters(), opt.state)

    if it % 50 == 0 or it == STEPS - 1:
        nll = token_nll(model, hx, hr)
        val = ((nll * hm[:, 1:]).sum() / hm[:, 1:].sum()).item()
        unll = ((nll * user_digit).sum() / user_digit.sum()).item()
        print(f"step {it:4d}  lr {lr_now:.2e}  train {loss.item():.4f}  assistant_val {val:.4f}  "
              f"user_digit_nll {unll:.3f}  |g| {gn.item():.3f}")

    if it == 99:
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"[ckpt] saved after step {it} (opt step {int(opt.state['step'].item())})")
        model, opt = fresh()
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        step_fn = make_step(model, opt)
        print(f"[ckpt] resumed into a new process-like state at opt step "
              f"{int(opt.state['step'].item())}, next lr {float(sched(mx.array(it + 1))):.2e}")

ex, st = greedy_eval(model, held[:40])
print(f"held-out greedy reply: exact {ex:.3f}  ends-with-<eot> {st:.3f}  ({time.time() - t0:.1f}s)")
