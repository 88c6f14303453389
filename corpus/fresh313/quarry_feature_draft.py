"""Feature-level draft (EAGLE-style) for a small quarry-log language model.

Stage 1 fits a tiny causal transformer "target" on synthetic blast-log token
streams and freezes it.  Stage 2 trains a one-block draft that reads the
target's last hidden features plus the embedding of the next token and
predicts the next feature; logits come from the target's own frozen head.
Stage 2 is split in two sessions with a checkpoint/resume in between.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

V, D, L, K = 24, 24, 16, 4
rng = np.random.default_rng(7)
mx.random.seed(7)
T0 = time.time()


def log(**kw):
    parts = [f"t={time.time() - T0:5.1f}s"]
    for k, v in kw.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4f}")
        else:
            parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


# ---- synthetic second-order token law with a little noise ----
table = rng.integers(0, V, size=(V, V, 2))


def make_streams(n):
    out = np.zeros((n, L + 1), dtype=np.int32)
    out[:, :2] = rng.integers(0, V, size=(n, 2))
    for t in range(2, L + 1):
        a, b = out[:, t - 2], out[:, t - 1]
        pick = rng.random(n) < 0.8
        nxt = table[a, b, 0]
        alt = table[a, b, 1]
        noise = rng.integers(0, V, size=n)
        r = rng.random(n)
        out[:, t] = np.where(r < 0.06, noise, np.where(pick, nxt, alt))
    return out


train = make_streams(3000)
held = make_streams(128)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.n1 = nn.RMSNorm(d)
        self.att = nn.MultiHeadAttention(d, 4)
        self.n2 = nn.RMSNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.ff(self.n2(x))


class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L + K + 2, D)
        self.blocks = [Block(D)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def features(self, toks):
        n = toks.shape[1]
        x = self.emb(toks) + self.pos(mx.arange(n))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(n)
        for b in self.blocks:
            x = b(x, mask)
        return x

    def logits_from(self, f):
        return self.head(self.norm(f))

    def __call__(self, toks):
        return self.logits_from(self.features(toks))


class Draft(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * D, D)
        self.pos = nn.Embedding(L + K + 2, D)
        self.block = Block(D)

    def __call__(self, feats, next_emb):
        n = feats.shape[1]
        x = self.fc(mx.concatenate([feats, next_emb], axis=-1)) + self.pos(mx.arange(n))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(n)
        return self.block(x, mask)


# ---------------- stage 1: target ----------------
target = Target()
t_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def t_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_step = nn.value_and_grad(target, t_loss)
log(stage="target", event="start", params=sum(v.size for _, v in tree_flatten(target.parameters())))
for it in range(1, 301):
    idx = rng.integers(0, len(train), 32)
    b = mx.array(train[idx])
    loss, g = t_step(target, b[:, :-1], b[:, 1:])
    t_opt.update(target, g)
    mx.eval(target.parameters(), t_opt.state, loss)
    if it % 100 == 0:
        hb = mx.array(held)
        hce = t_loss(target, hb[:, :-1], hb[:, 1:]).item()
        log(stage="target", step=it, ce=loss.item(), held_ce=hce)
target.freeze()
target.eval()
frozen_snapshot = [np.array(v) for _, v in tree_flatten(target.parameters())]

# bigram reference draft from training counts
counts = np.zeros((V, V))
np.add.at(counts, (train[:, :-1].ravel(), train[:, 1:].ravel()), 1)
bigram = counts.argmax(axis=1)


def target_greedy(start, steps):
    toks = start
    for _ in range(steps):
        nxt = mx.argmax(target(toks)[:, -1], axis=-1)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return toks


# evaluation openings: P real tokens, then the target's own greedy path
P = 10
pref = mx.array(held[:, :P])
path = target_greedy(pref, K + 1)  # P + K + 1 tokens
mx.eval(path)
path_np = np.array(path)


def accept_len(guesses):
    # guesses: (n, K) proposals for positions P+1 .. P+K
    ok = guesses == path_np[:, P + 1:P + 1 + K]
    run = np.cumprod(ok, axis=1).sum(axis=1)
    return 1.0 + run.mean()


g = np.zeros((len(path_np), K), dtype=np.int64)
last = path_np[:, P]
for j in range(K):
    last = bigram[last]
    g[:, j] = last
tau_bigram = accept_len(g)


def draft_accept(draft):
    feats = target.features(path[:, :P])  # features f_1..f_P
    toks = path[:, 1:P + 1]  # x_2..x_{P+1}: the token following each feature
    guesses = []
    for _ in range(K):
        f_hat = draft(feats, target.emb(toks))
        nxt = mx.argmax(target.logits_from(f_hat[:, -1]), axis=-1)
        guesses.append(nxt)
        feats = mx.concatenate([feats, f_hat[:, -1:]], axis=1)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return accept_len(np.array(mx.stack(guesses, axis=1)))


log(stage="reference", tau_bigram=float(tau_bigram), tau_ceiling=float(K + 1))

# ---------------- stage 2: draft ----------------
STEPS, WARM = 400, 40


def make_sched():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)],
        [WARM],
    )


def d_loss(draft, toks):
    f = mx.stop_gradient(target.features(toks))
    f_in, f_out = f[:, :-1], f[:, 1:]
    e_next = target.emb(toks[:, 1:])
    f_hat = draft(f_in, e_next)
    reg = nn.losses.smooth_l1_loss(f_hat, f_out, reduction="mean")
    p_t = mx.softmax(target.logits_from(f_out), axis=-1)
    logq = nn.log_softmax(target.logits_from(f_hat), axis=-1)
    soft_ce = -(p_t * logq).sum(axis=-1).mean()
    return reg + 0.1 * soft_ce, (reg, soft_ce)


def run_session(draft, opt, start, stop):
    step_fn = nn.value_and_grad(draft, d_loss)
    for it in range(start + 1, stop + 1):
        b = mx.array(train[rng.integers(0, len(train), 32)])
        (loss, (reg, sce)), grads = step_fn(draft, b)
        if it == 1:
            leaves = tree_flatten(grads)
            nz = sum(int(mx.any(v != 0).item()) for _, v in leaves)
            log(stage="draft", event="grad_audit", nonzero=f"{nz}/{len(leaves)}",
                lr_first=float(opt.learning_rate.item()))
        opt.update(draft, grads)
        mx.eval(draft.parameters(), opt.state, loss)
        if it % 100 == 0:
            log(stage="draft", step=it, lr=float(opt.learning_rate.item()), total=loss.item(),
                smooth_l1=reg.item(), soft_ce=sce.item(), tau=float(draft_accept(draft)),
                tau_bigram=float(tau_bigram))


draft = Draft()
opt = optim.Adam(learning_rate=make_sched(), betas=[0.9, 0.95])
log(stage="draft", event="start", tau_untrained=float(draft_accept(draft)))
run_session(draft, opt, 0, 200)

ckdir = tempfile.mkdtemp()
draft.save_weights(os.path.join(ckdir, "draft.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as fh:
    json.dump({"step": 200}, fh)
ref_tau = draft_accept(draft)
del draft, opt

draft = Draft()
draft.load_weights(os.path.join(ckdir, "draft.safetensors"))
opt = optim.Adam(learning_rate=make_sched(), betas=[0.9, 0.95])
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as fh:
    start = json.load(fh)["step"]
log(stage="draft", event="resumed", step=start, lr=float(opt.learning_rate.item()),
    tau_before=float(ref_tau), tau_after=float(draft_accept(draft)))
run_session(draft, opt, start, STEPS)

drift = max(float(np.abs(np.array(v) - s).max())
            for (_, v), s in zip(tree_flatten(target.parameters()), frozen_snapshot))
final_tau = draft_accept(draft)
log(stage="done", tau=float(final_tau), tau_bigram=float(tau_bigram), tau_ceiling=float(K + 1),
    target_drift=drift)
