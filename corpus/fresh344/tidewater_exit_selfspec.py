"""Self-speculative decoding with an early-exit drafter (LayerSkip-like).

Stage A fits a 3-block causal transformer on synthetic tide-gauge token
streams.  Stage B freezes it and trains an exit head on the block-1 features
to match the final layer's next-token distribution (forward KL), so the
shallow sub-network can draft tokens that the full network verifies.
Stage B is interrupted once: checkpoint, rebuild, resume.
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

V, D, L, T = 24, 32, 3, 16
NOISE = 0.10
rng = np.random.default_rng(7)
mx.random.seed(7)


def tide_streams(n):
    """Second-order recurrence mod V with 10% uniform corruption."""
    x = np.zeros((n, T + 1), dtype=np.int32)
    x[:, 0] = rng.integers(0, V, n)
    x[:, 1] = rng.integers(0, V, n)
    for t in range(2, T + 1):
        x[:, t] = (3 * x[:, t - 1] + 2 * x[:, t - 2] + 5) % V
        flip = rng.random(n) < NOISE
        x[flip, t] = rng.integers(0, V, flip.sum())
    return mx.array(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(D)
        self.att = nn.MultiHeadAttention(D, 4)
        self.n2 = nn.RMSNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        y = self.n1(x)
        x = x + self.att(y, y, y, mask)
        return x + self.ff(self.n2(x))


class TideLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = [Block() for _ in range(L)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, V)

    def features(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))
        feats = []
        for b in self.blocks:
            h = b(h, mask)
            feats.append(h)
        return feats

    def __call__(self, x):
        return self.head(self.norm(self.features(x)[-1]))


class ExitHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(D)
        self.proj = nn.Linear(D, V)

    def __call__(self, h):
        return self.proj(self.norm(h))


def line(tag, **kv):
    parts = []
    for k, v in kv.items():
        parts.append(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")
    print(f"[{tag}] " + " ".join(parts), flush=True)


train = tide_streams(6000)
valid = tide_streams(200)
floor = -((1 - NOISE + NOISE / V) * math.log(1 - NOISE + NOISE / V)
          + (V - 1) * (NOISE / V) * math.log(NOISE / V))
line("data", train_rows=6000, valid_rows=200, vocab=V, ce_floor_nats=floor)

# ------------------------------------------------------------- stage A: target
lm = TideLM()
opt_a = optim.Adam(learning_rate=2e-3)


def lm_loss(model, x):
    return nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:], reduction="mean")


lm_step = nn.value_and_grad(lm, lm_loss)
t0 = time.time()
for it in range(1, 301):
    idx = mx.array(rng.integers(0, 6000, 32))
    loss, g = lm_step(lm, train[idx])
    opt_a.update(lm, g)
    mx.eval(loss, lm.parameters(), opt_a.state)
    if it % 75 == 0:
        vce = lm_loss(lm, valid).item()
        line("stage-A", it=it, train_ce=loss.item(), valid_ce=vce, floor=floor,
             secs=time.time() - t0)

lm.freeze()
frozen_snapshot = [v for _, v in tree_flatten(lm.parameters())]
mx.eval(frozen_snapshot)
frozen_snapshot = [mx.array(v) for v in frozen_snapshot]

# ---------------------------------------------------------- stage B: exit head
v_feats = lm.features(valid[:, :-1])
v_p_full = mx.softmax(lm.head(lm.norm(v_feats[-1])), axis=-1)
unigram = mx.mean(v_p_full.reshape(-1, V), axis=0)
alpha_uni = mx.mean(mx.sum(mx.minimum(v_p_full, unigram), axis=-1)).item()


def exit_loss(head, h1, p_full):
    logq = nn.log_softmax(head(h1), axis=-1)
    return mx.mean(mx.sum(p_full * (mx.log(p_full + 1e-9) - logq), axis=-1))


def evaluate(head):
    logits = head(v_feats[0])
    q = mx.softmax(logits, axis=-1)
    kl = exit_loss(head, v_feats[0], v_p_full).item()
    alpha = mx.mean(mx.sum(mx.minimum(v_p_full, q), axis=-1)).item()
    agree = mx.mean(mx.argmax(logits, -1) == mx.argmax(v_p_full, -1)).item()
    k = 3
    per_verify = (1 - alpha ** (k + 1)) / (1 - alpha)
    return kl, alpha, 100.0 * agree, per_verify


B_STEPS, RESUME_AT, WARM = 200, 100, 30
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.08, WARM), optim.cosine_decay(0.08, B_STEPS - WARM, 1e-3)],
    [WARM])


def make_opt():
    return optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)


head = ExitHead()
opt_b = make_opt()
head_step = nn.value_and_grad(head, exit_loss)
kl0, a0, ag0, pv0 = evaluate(head)
line("stage-B", step=0, lr=0.0, valid_kl=kl0, alpha=a0, alpha_unigram=alpha_uni,
     top1_agree_pct=ag0, tokens_per_verify=pv0)

ckpt = tempfile.mkdtemp()
step = 0
while step < B_STEPS:
    idx = mx.array(rng.integers(0, 6000, 64))
    x = train[idx][:, :-1]
    feats = lm.features(x)
    p_full = mx.stop_gradient(mx.softmax(lm.head(lm.norm(feats[-1])), axis=-1))
    lr_now = schedule(opt_b.step).item()
    loss, g = head_step(head, mx.stop_gradient(feats[0]), p_full)
    opt_b.update(head, g)
    mx.eval(loss, head.parameters(), opt_b.state)
    step += 1
    if step == 1:
        line("stage-B", step=1, lr_used=lr_now, note="first update at lr 0")
    if step % 40 == 0:
        kl, a, ag, pv = evaluate(head)
        line("stage-B", step=step, lr=lr_now, train_kl=loss.item(), valid_kl=kl, alpha=a,
             alpha_unigram=alpha_uni, top1_agree_pct=ag, tokens_per_verify=pv)
    if step == RESUME_AT:
        head.save_weights(os.path.join(ckpt, "head.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"),
                            dict(tree_flatten(opt_b.state)))
        before = evaluate(head)[0]
        del head, opt_b, head_step
        head = ExitHead()
        head.load_weights(os.path.join(ckpt, "head.safetensors"))
        opt_b = make_opt()
        opt_b.init(head.trainable_parameters())
        opt_b.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
        head_step = nn.value_and_grad(head, exit_loss)
        after = evaluate(head)[0]
        line("resume", step=step, opt_step=int(opt_b.step.item()), valid_kl_before=before,
             valid_kl_after=after)

drift = max(mx.max(mx.abs(a - b)).item()
            for a, b in zip(frozen_snapshot, [v for _, v in tree_flatten(lm.parameters())]))
kl, a, ag, pv = evaluate(head)
line("final", valid_kl=kl, alpha=a, alpha_unigram=alpha_uni, top1_agree_pct=ag,
     tokens_per_verify=pv, target_drift=drift, secs=time.time() - t0)
