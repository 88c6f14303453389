# Tiny Mixtral-style LM fine-tune: sparse MoE feed-forward whose training path
# dispatches tokens to experts with numpy (as mlx_lm's mixtral.py did in early 2024),
# trained with the mlx_lm tuner's compiled step.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(0)
np.random.seed(0)

VOCAB, DIM, HID, NE, TOPK, SEQ = 32, 48, 96, 4, 2, 24


class ExpertMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(DIM, HID, bias=False)
        self.w2 = nn.Linear(HID, DIM, bias=False)
        self.w3 = nn.Linear(DIM, HID, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class SparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(DIM, NE, bias=False)
        self.experts = [ExpertMLP() for _ in range(NE)]

    def __call__(self, x):
        ne = TOPK
        orig_shape = x.shape
        x = x.reshape(-1, x.shape[-1])
        gates = self.gate(x)
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=ne, axis=-1)[:, :ne])
        scores = mx.softmax(mx.take_along_axis(gates, inds, axis=-1).astype(mx.float32), axis=-1)
        if self.training:
            mx.eval(inds)
            inds = np.array(inds)
            y = mx.zeros((x.shape[0], ne, x.shape[-1]), x.dtype)
            for e, expert in enumerate(self.experts):
                idx1, idx2 = map(mx.array, np.where(inds == e))
                if idx1.size == 0:
                    continue
                y[idx1, idx2] = expert(x[idx1])
            y = (y * scores[:, :, None]).sum(axis=1)
        else:
            y = []
            for xt, st, it in zip(x, scores, inds.tolist()):
                yt = mx.concatenate([self.experts[e](xt)[:, None] for e in it], axis=-1)
                y.append(((yt * st).sum(axis=-1))[None, :])
            y = mx.concatenate(y)
        return y.reshape(orig_shape)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.n2 = nn.RMSNorm(DIM)
        self.moe = SparseMoeBlock()

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.moe(self.n2(x))


class TinyMixtral(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(), Block()]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, t):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(t.shape[1])
        x = self.emb(t)
        for l in self.layers:
            x = l(x, mask)
        return self.head(self.norm(x))


def make_batch(bs):
    # sequences that count upward mod VOCAB with a random start and stride 1..3
    start = np.random.randint(0, VOCAB, size=(bs, 1))
    stride = np.random.randint(1, 4, size=(bs, 1))
    seq = (start + stride * np.arange(SEQ + 1)[None, :]) % VOCAB
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss(model, inputs, targets):
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits, targets)
    ntoks = targets.size
    return ce.mean(), ntoks


model = TinyMixtral()
model.train()
optimizer = optim.Adam(learning_rate=3e-3)
loss_value_and_grad = nn.value_and_grad(model, loss)

state = [model.state, optimizer.state]


def step(inputs, targets):
    (lvalue, toks), grad = loss_value_and_grad(model, inputs, targets)
    optimizer.update(model, grad)
    return lvalue, toks


ITERS = 150
losses, n_tokens = [], 0
start = time.perf_counter()
for it in range(1, ITERS + 1):
    lvalue, toks = step(*make_batch(16))
    mx.eval(state, lvalue)
    losses.append(lvalue.item())
    n_tokens += toks
    if it % 10 == 0:
        stop = time.perf_counter()
        print(f"Iter {it}: Train loss {np.mean(losses):.3f}, It/sec {10 / (stop - start):.3f}, "
              f"Tokens/sec {n_tokens / (stop - start):.1f}", flush=True)
        losses, n_tokens = [], 0
        start = time.perf_counter()

model.eval()
vi, vt = make_batch(32)
logits = model(vi)
acc = (mx.argmax(logits, axis=-1) == vt).astype(mx.float32).mean().item()
print(f"Val loss {nn.losses.cross_entropy(logits, vt).mean().item():.3f}, next-token acc {acc:.3f}")
