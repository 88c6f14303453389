"""Lock-keeper bulletin phrasing: CPO preference tuning of a one-block causal LM.

Each bulletin prompt is 4 codes (lock id, water level, queue, weather); the
house-style reply is a 6-token phrase derived from them.  Dispreferred replies
are the house reply with two tokens swapped for plausible-looking codes.

CPO (Xu et al. 2024): reference-free preference term
    -log sigmoid(beta * (logp(chosen) - logp(rejected)))
plus an NLL term on the chosen reply.
"""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 24
P_LEN, R_LEN = 4, 6
BETA, LAMBDA_NLL = 0.5, 1.0
STEPS, RESUME_AT, BATCH = 160, 80, 32
PEAK_LR, WARM = 3e-3, 20

rng = np.random.default_rng(7)
mx.random.seed(7)


def house_reply(p):
    a, b, c, d = p
    return [(a + 1 - 4) % 20 + 4, (b + 2 - 4) % 20 + 4, c,
            (d + 3 - 4) % 20 + 4, (a + 5 - 4) % 20 + 4, 3]


def make_pairs(n):
    prompts = rng.integers(4, 24, size=(n, P_LEN))
    chosen, rejected = [], []
    for p in prompts:
        c = house_reply(p)
        r = list(c)
        for pos in rng.choice(5, size=2, replace=False):
            r[pos] = int((r[pos] - 4 + rng.integers(1, 20)) % 20 + 4)
        chosen.append(c)
        rejected.append(r)
    bos = np.full((n, 1), 1)
    c_seq = np.concatenate([bos, prompts, np.array(chosen)], axis=1)
    r_seq = np.concatenate([bos, prompts, np.array(rejected)], axis=1)
    return mx.array(c_seq), mx.array(r_seq)


train_c, train_r = make_pairs(1024)
val_c, val_r = make_pairs(128)


class TinyLM(nn.Module):
    def __init__(self, dims=64, heads=4):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(16, dims)
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))
        self.lnf = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        y = self.ln1(h)
        h = h + self.attn(y, y, y, mask)
        h = h + self.mlp(self.ln2(h))
        return self.out(self.lnf(h))


def reply_logp(model, seq):
    logits = model(seq[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(lp, seq[:, 1:, None], axis=-1).squeeze(-1)
    return tok[:, -R_LEN:].sum(axis=1)


def cpo_loss(model, c, r):
    lc = reply_logp(model, c)
    lr_ = reply_logp(model, r)
    pref = -nn.log_sigmoid(BETA * (lc - lr_)).mean()
    nll = -lc.mean() / R_LEN
    return pref + LAMBDA_NLL * nll


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, STEPS - WARM, 1e-4)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def evaluate(model):
    lc = reply_logp(model, val_c)
    lr_ = reply_logp(model, val_r)
    acc = (lc > lr_).astype(mx.float32).mean()
    return (-lc.mean() / R_LEN).item(), (-lr_.mean() / R_LEN).item(), \
        (lc - lr_).mean().item(), acc.item()


def greedy_exact(model, seqs):
    x = seqs[:, : 1 + P_LEN]
    for _ in range(R_LEN):
        nxt = mx.argmax(model(x)[:, -1, :], axis=-1)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    return (x[:, -R_LEN:] == seqs[:, -R_LEN:]).all(axis=1).astype(mx.float32).mean().item()


def run_segment(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, cpo_loss)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, train_c.shape[0], size=BATCH))
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, train_c[idx], train_r[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == stop - 1:
            nc, nr, margin, acc = evaluate(model)
            print(f"{step:>5} {lr_now:9.2e} {loss.item():8.4f} {nc:8.4f} {nr:8.4f} "
                  f"{margin:8.3f} {acc:7.3f}")


model = TinyLM()
opt = make_opt()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
nc0, nr0, m0, acc0 = evaluate(model)
print(f"params {n_params}  pairs {train_c.shape[0]}  beta {BETA}  lambda {LAMBDA_NLL}")
print(f"untrained: val nll chosen {nc0:.4f} rejected {nr0:.4f} pref-acc {acc0:.3f} "
      f"(coin flip 0.500), greedy exact {greedy_exact(model, val_c):.3f}")
header = f"{'step':>5} {'lr':>9} {'loss':>8} {'nll_c':>8} {'nll_r':>8} {'margin':>8} {'acc':>7}"
print(header)
run_segment(model, opt, 0, RESUME_AT)

ckpt_dir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                    dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {RESUME_AT}; reloading into fresh objects")

model = TinyLM()
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: optimizer step counter {int(opt.state['step'].item())}")
print(header)
run_segment(model, opt, RESUME_AT, STEPS)

nc, nr, margin, acc = evaluate(model)
print(f"final: val nll chosen {nc:.4f} (untrained {nc0:.4f}), rejected {nr:.4f} "
      f"(untrained {nr0:.4f})")
print(f"final: pref-acc {acc:.3f} vs coin flip 0.500, margin {margin:.2f} nats, "
      f"greedy exact {greedy_exact(model, val_c):.3f}")
