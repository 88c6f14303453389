"""Turbary (peat-cutting) ledger codes: next-code language model.

The parish ledgers are written as streams of 16 codes that follow a first-order
Markov chain.  A tiny causal attention LM is fitted quietly on the old parish's
ledgers and frozen.  The new parish uses the same book except that four codes
are followed by different codes.  The LM is adapted with LoRA-FA: the down
projection A of every adapter is a frozen random matrix, only the up projection
B (zero at the start) trains.  Gradients are accumulated over 2 micro-batches,
the learning rate warms up from exactly 0 and then follows a cosine.  The loss
on the OLD ledgers is printed beside the new one and is expected to rise.  At
the end the adapters are merged into the base weights and the merged LM is
checked against the adapted one.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

V = 16
L = 24
D = 32


def chain(rng, alpha=0.25):
    P = rng.dirichlet([alpha] * V, size=V)
    return P


def entropy_rate(P):
    # stationary distribution
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    H = -(P * np.log(np.clip(P, 1e-12, None))).sum(axis=1)
    return float((pi * H).sum())


def sample(P, n, rng):
    out = np.zeros((n, L + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, V, size=n)
    cum = np.cumsum(P, axis=1)
    for t in range(1, L + 1):
        u = rng.random(n)[:, None]
        out[:, t] = np.minimum((u > cum[out[:, t - 1]]).sum(axis=1), V - 1)
    return mx.array(out)


class LoRAFALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, scale: float, key):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = scale
        self.lora_a = mx.random.normal((in_dims, rank), key=key) / math.sqrt(in_dims)
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)

    def merged(self):
        lin = nn.Linear(*reversed(self.base.weight.shape), bias="bias" in self.base)
        delta = self.scale * (self.lora_a @ self.lora_b).T
        lin.weight = self.base.weight + delta
        if "bias" in self.base:
            lin.bias = self.base.bias
        return lin


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, 4)
        self.ln2 = nn.LayerNorm(D)
        self.up = nn.Linear(D, 4 * D)
        self.down = nn.Linear(4 * D, D)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class LedgerLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.block = Block()
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, x):
        n = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(n))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(n)
        h = self.block(h, mask)
        return self.out(self.ln(h))


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def eval_loss(model, seq):
    return loss_fn(model, seq).item()


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    P_old = chain(rng)
    P_new = P_old.copy()
    moved = rng.choice(V, size=4, replace=False)
    P_new[moved] = chain(rng)[moved]
    h_old, h_new = entropy_rate(P_old), entropy_rate(P_new)

    old_train, old_val = sample(P_old, 4000, rng), sample(P_old, 300, rng)
    new_train, new_val = sample(P_new, 1600, rng), sample(P_new, 300, rng)

    # ---- quiet base fit on the old parish --------------------------------
    model = LedgerLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step = nn.value_and_grad(model, loss_fn)
    for it in range(240):
        idx = mx.array(rng.integers(0, old_train.shape[0], size=48))
        loss, grads = step(model, old_train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    base_old, base_new = eval_loss(model, old_val), eval_loss(model, new_val)
    print(f"base LM on old ledgers: val {base_old:.3f} nats/code (entropy rate {h_old:.3f})")
    print(f"base LM on new ledgers: val {base_new:.3f} nats/code (entropy rate {h_new:.3f}); codes {sorted(moved.tolist())} changed")

    # ---- LoRA-FA adapters --------------------------------------------------
    model.freeze()
    keys = mx.random.split(mx.random.key(11), 4)
    blk = model.block
    blk.attn.query_proj = LoRAFALinear(blk.attn.query_proj, 4, 2.0, keys[0])
    blk.attn.value_proj = LoRAFALinear(blk.attn.value_proj, 4, 2.0, keys[1])
    blk.up = LoRAFALinear(blk.up, 8, 2.0, keys[2])
    model.out = LoRAFALinear(model.out, 8, 2.0, keys[3])
    for m in (blk.attn.query_proj, blk.attn.value_proj, blk.up, model.out):
        m.freeze(recurse=False)
        m.unfreeze(keys=["lora_b"], recurse=False)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    a_before = np.array(blk.up.lora_a)
    print(f"LoRA-FA: {n_tr} trainable of {n_all} ({100 * n_tr / n_all:.1f}%), A matrices frozen")

    steps, warm, accum, mb = 100, 20, 2, 32
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 2e-4)], [warm]
    )
    opt = optim.Adam(learning_rate=sched)
    step = nn.value_and_grad(model, loss_fn)
    print("step   lr        train   new_val  old_val  (new floor %.3f, base %.3f | old base %.3f)" % (h_new, base_new, base_old))
    for it in range(1, steps + 1):
        acc_grads, acc_loss = None, 0.0
        for _ in range(accum):
            idx = mx.array(rng.integers(0, new_train.shape[0], size=mb))
            loss, grads = step(model, new_train[idx])
            acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
            acc_loss += loss
        acc_grads = tree_map(lambda g: g / accum, acc_grads)
        lr_now = opt.learning_rate.item()
        opt.update(model, acc_grads)
        mx.eval(model.parameters(), opt.state, acc_loss)
        if it == 1 or it % 20 == 0:
            print(f"{it:4d}  {lr_now:.2e}  {acc_loss.item() / accum:.3f}   {eval_loss(model, new_val):.3f}    {eval_loss(model, old_val):.3f}")

    adapted_new = eval_loss(model, new_val)
    drift_a = float(np.abs(np.array(blk.up.lora_a) - a_before).max())
    print(f"A-matrix drift {drift_a:.1e}; B norm (up) {mx.linalg.norm(blk.up.lora_b).item():.3f}")

    # ---- merge and check ---------------------------------------------------
    blk.attn.query_proj = blk.attn.query_proj.merged()
    blk.attn.value_proj = blk.attn.value_proj.merged()
    blk.up = blk.up.merged()
    model.out = model.out.merged()
    merged_new = eval_loss(model, new_val)
    print(f"merged LM new val {merged_new:.4f} vs adapted {adapted_new:.4f} (|diff| {abs(merged_new - adapted_new):.1e})")
    print(f"new ledgers: {base_new:.3f} -> {merged_new:.3f} nats/code (floor {h_new:.3f}); old ledgers {base_old:.3f} -> {eval_loss(model, old_val):.3f}; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
