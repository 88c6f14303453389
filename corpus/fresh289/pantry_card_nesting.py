"""Recipe-card deduplication for a community cookbook archive.

A scanned card (query) must be matched to its catalogue recipe. Queries lose
ingredient words, swap some for regional synonyms and come in any order.
Bag-of-words encoder (embedding + padding-masked mean pooling + residual GELU),
trained with a nested ("matryoshka") InfoNCE: the same loss on the first
8, 16, 32 and all 64 dimensions, summed. Training stops halfway, writes a
checkpoint (weights + optimizer state + step), and a fresh process-like rebuild
resumes from it.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
rng = np.random.default_rng(SEED)
N_WORDS, N_RECIPES, CARD_LEN, DIM = 180, 300, 12, 64
PAD = 0
VOCAB = 1 + 2 * N_WORDS            # word i has id 1+i, its regional synonym id 1+N_WORDS+i
NEST = (8, 16, 32, 64)
TAU = 0.1

recipes = np.stack([1 + rng.choice(N_WORDS, size=CARD_LEN, replace=False) for _ in range(N_RECIPES)]).astype(np.int32)


def scan(ids):
    """Noisy scanned copy of catalogue cards: drop 3 words, swap ~30% for synonyms, shuffle, pad."""
    out = np.full((len(ids), CARD_LEN), PAD, dtype=np.int32)
    for r, i in enumerate(ids):
        words = rng.permutation(recipes[i])[: CARD_LEN - 3]
        swap = rng.random(len(words)) < 0.3
        words = np.where(swap, words + N_WORDS, words)
        out[r, : len(words)] = words
    return out


class CardEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.l1 = nn.Linear(DIM, DIM)
        self.l2 = nn.Linear(DIM, DIM)

    def __call__(self, toks):
        w = (toks != PAD)[..., None].astype(mx.float32)
        h = (self.emb(toks) * w).sum(1) / mx.maximum(w.sum(1), 1.0)
        return h + self.l2(nn.gelu(self.l1(h)))


def nested_nce(model, q_toks, r_toks):
    q, r = model(q_toks), model(r_toks)
    labels = mx.arange(q.shape[0])
    parts = []
    for d in NEST:
        qa = q[:, :d] / mx.linalg.norm(q[:, :d], axis=1, keepdims=True)
        ra = r[:, :d] / mx.linalg.norm(r[:, :d], axis=1, keepdims=True)
        parts.append(nn.losses.cross_entropy((qa @ ra.T) / TAU, labels, reduction="mean"))
    return sum(parts), mx.stack(parts)


def recall_at_1(model, q_toks, truth):
    q, r = model(mx.array(q_toks)), model(mx.array(recipes))
    res = {}
    for d in NEST:
        qa = q[:, :d] / mx.linalg.norm(q[:, :d], axis=1, keepdims=True)
        ra = r[:, :d] / mx.linalg.norm(r[:, :d], axis=1, keepdims=True)
        res[d] = 100.0 * float(np.mean(np.array(mx.argmax(qa @ ra.T, axis=1)) == truth))
    return res


def build(lr_sched):
    model = CardEncoder()
    mx.eval(model.parameters())
    return model, optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)


TOTAL, HALF, BATCH = 360, 180, 48
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 30), optim.cosine_decay(4e-3, TOTAL - 30, 2e-4)], [30])

mx.random.seed(SEED)
model, opt = build(sched)
eval_truth = rng.integers(0, N_RECIPES, size=N_RECIPES)
eval_q = scan(eval_truth)
probe_ids = np.arange(BATCH)
probe_q, probe_r = mx.array(scan(probe_ids)), mx.array(recipes[probe_ids])
chance = 100.0 / N_RECIPES
t0 = time.time()


def log(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


r0 = recall_at_1(model, eval_q, eval_truth)
log(event="start", recipes=N_RECIPES, vocab=VOCAB, loss_terms=len(NEST), chance_r1_pct=f"{chance:.2f}",
    **{f"r1_d{d}": f"{v:.1f}" for d, v in r0.items()})


def train_span(model, opt, first, last):
    grad_fn = nn.value_and_grad(model, lambda m, a, b: nested_nce(m, a, b)[0])
    window = []
    for step in range(first, last + 1):
        ids = rng.choice(N_RECIPES, size=BATCH, replace=False)
        lr_used = float(sched(opt.step))
        loss, grads = grad_fn(model, mx.array(scan(ids)), mx.array(recipes[ids]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            log(event="grad_check", step=1, lr=f"{lr_used:.1e}", leaves=len(tree_flatten(grads)), all_zero_leaves=zero or "none")
        if step % 45 == 0:
            _, parts = nested_nce(model, probe_q, probe_r)
            r = recall_at_1(model, eval_q, eval_truth)
            log(event="train", step=step, lr=f"{lr_used:.2e}", loss_sum=f"{np.mean(window):.3f}",
                **{f"nce_d{d}": f"{p:.3f}" for d, p in zip(NEST, parts.tolist())},
                **{f"r1_d{d}": f"{v:.1f}" for d, v in r.items()}, secs=f"{time.time() - t0:.1f}")
            window = []


train_span(model, opt, 1, HALF)

with tempfile.TemporaryDirectory() as ckpt:
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    probe_before = nested_nce(model, probe_q, probe_r)[0].item()
    saved_step = int(opt.step)
    log(event="checkpoint", step=saved_step, probe_loss=f"{probe_before:.6f}", files=",".join(sorted(os.listdir(ckpt))))
    del model, opt
    model, opt = build(sched)                       # fresh weights, fresh optimizer
    fresh_probe = nested_nce(model, probe_q, probe_r)[0].item()
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
    probe_after = nested_nce(model, probe_q, probe_r)[0].item()
    log(event="resume", step=int(opt.step), probe_loss_fresh_init=f"{fresh_probe:.6f}",
        probe_loss_restored=f"{probe_after:.6f}", diff=f"{abs(probe_after - probe_before):.1e}")

train_span(model, opt, HALF + 1, TOTAL)
final = recall_at_1(model, eval_q, eval_truth)
log(event="done", steps=TOTAL, chance_r1_pct=f"{chance:.2f}", **{f"r1_d{d}": f"{v:.1f}" for d, v in final.items()},
    secs=f"{time.time() - t0:.1f}")
