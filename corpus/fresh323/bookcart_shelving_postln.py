"""Returns-cart shelving: a tiny decoder-only transformer learns to put a cart of
8 call numbers (0..15) into shelf order.

Each row is  <8 call numbers as they came off the cart> SEP <the same 8 in shelf order>.
Only the shelf-order half is scored; the cart half is random, so next-token loss there
cannot go below ln(16); it is not trained and is printed only as a reference
(it drifts upward once the model stops caring about it).

Model: written from scratch, post-LN blocks (residual add, then LayerNorm), learned
positions, fused qkv projection split into 4 heads, causal fast SDPA.
Schedule: linear warmup that starts at exactly 0, then cosine.
Half-way the run is checkpointed (weights + optimizer state), a fresh model and
optimizer are built, the checkpoint is loaded and training continues.
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

N_CALL = 16
SEP = 16
VOCAB = 17
CART = 8
SEQ = 2 * CART + 1
DIM, HEADS, LAYERS = 48, 4, 2
BATCH = 48
STEPS = 400
HALF = 200
PEAK_LR, WARMUP = 2e-3, 80

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_rows(n):
    cart = rng.integers(0, N_CALL, size=(n, CART))
    shelf = np.sort(cart, axis=1)
    sep = np.full((n, 1), SEP)
    return np.concatenate([cart, sep, shelf], axis=1).astype(np.int32)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def __call__(self, x):
        B, T, D = x.shape
        hd = D // self.heads
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q = q.reshape(B, T, self.heads, hd).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, self.heads, hd).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, self.heads, hd).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5, mask="causal")
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, T, D))


class PostLNBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.ln1 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.ln2 = nn.LayerNorm(dim)

    def __call__(self, x):
        x = self.ln1(x + self.attn(x))
        x = self.ln2(x + self.fc2(nn.gelu(self.fc1(x))))
        return x


class Shelver(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [PostLNBlock(DIM, HEADS) for _ in range(LAYERS)]
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        for b in self.blocks:
            h = b(h)
        return self.head(h)


# positions of the target vector y = row[1:] that predict shelf order
shelf_w = mx.array(np.r_[np.zeros(CART), np.ones(CART)].astype(np.float32))
cart_w = mx.array(np.r_[np.ones(CART - 1), np.zeros(CART + 1)].astype(np.float32))


def loss_fn(model, rows):
    x, y = rows[:, :-1], rows[:, 1:]
    ce = nn.losses.cross_entropy(model(x), y)
    return (ce * shelf_w).sum() / (shelf_w.sum() * rows.shape[0])


def cart_loss(model, rows):
    x, y = rows[:, :-1], rows[:, 1:]
    ce = nn.losses.cross_entropy(model(x), y)
    return (ce * cart_w).sum() / (cart_w.sum() * rows.shape[0])


def shelve(model, rows):
    seq = mx.array(rows[:, : CART + 1])
    for _ in range(CART):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return np.array(seq[:, CART + 1:])


def evaluate(model, rows):
    got = shelve(model, rows)
    want = rows[:, CART + 1:]
    exact = float((got == want).all(axis=1).mean())
    slot = float((got == want).mean())
    return exact, slot


def build():
    model = Shelver()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-4)],
        [WARMUP],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt


def run_steps(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        rows = mx.array(make_rows(BATCH))
        loss, grads = step_fn(model, rows)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == stop - 1:
            ref = cart_loss(model, mx.array(val_rows[:128]))
            print(f"step {step:5d}  lr {float(opt.learning_rate):.2e}  shelf_loss {loss.item():.4f}  "
                  f"cart_loss(unscored, chance {math.log(N_CALL):.3f}) {ref.item():.3f}  gnorm {gnorm.item():.3f}")
        if step % 100 == 99:
            ex, sl = evaluate(model, val_rows)
            print(f"  eval@{step + 1}: exact cart {ex:.3f}  per-slot {sl:.3f}  "
                  f"(as-is baseline exact {base_exact:.3f} per-slot {base_slot:.3f})")


val_rows = make_rows(256)
base_exact = float((val_rows[:, :CART] == val_rows[:, CART + 1:]).all(axis=1).mean())
base_slot = float((val_rows[:, :CART] == val_rows[:, CART + 1:]).mean())

t0 = time.time()
model, opt = build()
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"params {n_params}  steps {STEPS}  warmup {WARMUP} (lr starts at 0)")
run_steps(model, opt, 0, HALF)

with tempfile.TemporaryDirectory() as d:
    wpath = os.path.join(d, "shelver.safetensors")
    opath = os.path.join(d, "shelver_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    probe = mx.array(val_rows[:128])
    before = loss_fn(model, probe).item()
    del model, opt
    model, opt = build()
    model.load_weights(wpath)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    after = loss_fn(model, probe).item()
    print(f"checkpoint reload at step {HALF}: probe loss {before:.4f} -> {after:.4f}  "
          f"opt step {int(opt.state['step'].item())}")

run_steps(model, opt, HALF, STEPS)
ex, sl = evaluate(model, val_rows)
print(f"final: exact cart {ex:.3f}  per-slot {sl:.3f}  as-is baseline exact {base_exact:.3f}  "
      f"time {time.time() - t0:.1f}s")
