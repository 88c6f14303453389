"""Distil a small draft model for speculative decoding from a frozen target model.

Stage "fkd": forward KL at a softening temperature annealed 4.0 -> 1.0.
Stage "rkd": reverse KL (mode seeking) at T = 1, fresh warmup.
Every report is one JSON line on stdout.
"""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
VOCAB, CTX = 32, 2


class NextTok(nn.Module):
    def __init__(self, emb, hidden, sharpen=1.0):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, emb)
        self.l1 = nn.Linear(CTX * emb, hidden)
        self.l2 = nn.Linear(hidden, VOCAB)
        self.sharpen = sharpen

    def __call__(self, ctx):
        e = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.l2(nn.silu(self.l1(e))) * self.sharpen


target = NextTok(24, 96, sharpen=14.0)
target.freeze()
mx.eval(target.parameters())

draft = NextTok(8, 24)
mx.eval(draft.parameters())

probe_ctx = mx.random.randint(0, VOCAB, (2048, CTX))
probe_p = mx.softmax(target(probe_ctx), axis=-1)
mx.eval(probe_ctx, probe_p)


def accept_pct(model):
    q = mx.softmax(model(probe_ctx), axis=-1)
    return 100.0 * mx.mean(mx.sum(mx.minimum(probe_p, q), axis=-1)).item()


uniform_pct = 100.0 * mx.mean(mx.sum(mx.minimum(probe_p, 1.0 / VOCAB), axis=-1)).item()


def fkd_loss(model, ctx, temp):
    t = target(ctx) / temp
    d = model(ctx) / temp
    lp_t = t - mx.logsumexp(t, axis=-1, keepdims=True)
    lp_d = d - mx.logsumexp(d, axis=-1, keepdims=True)
    return mx.mean(mx.sum(mx.exp(lp_t) * (lp_t - lp_d), axis=-1)) * temp * temp


def rkd_loss(model, ctx, temp):
    t = target(ctx) / temp
    d = model(ctx) / temp
    lp_t = t - mx.logsumexp(t, axis=-1, keepdims=True)
    lp_d = d - mx.logsumexp(d, axis=-1, keepdims=True)
    return mx.mean(mx.sum(mx.exp(lp_d) * (lp_d - lp_t), axis=-1)) * temp * temp


def make_step(loss_fn, opt):
    vg = nn.value_and_grad(draft, loss_fn)
    state = [draft.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(ctx, temp):
        loss, grads = vg(draft, ctx, temp)
        opt.update(draft, grads)
        return loss

    return step


stages = [("fkd", fkd_loss, 400, 4.0, 1.0, 2e-3), ("rkd", rkd_loss, 200, 1.0, 1.0, 5e-4)]
print(json.dumps({"event": "start", "vocab": VOCAB, "accept_pct": round(accept_pct(draft), 2),
                  "uniform_draft_pct": round(uniform_pct, 2), "target_self_pct": 100.0}))
for name, loss_fn, n_steps, t_hi, t_lo, peak in stages:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 40), optim.cosine_decay(peak, n_steps - 40, peak * 0.05)], [40])
    opt = optim.Adam(learning_rate=sched)
    step = make_step(loss_fn, opt)
    run = 0.0
    for i in range(n_steps):
        frac = i / max(1, n_steps - 1)
        temp = t_hi + (t_lo - t_hi) * frac
        ctx = mx.random.randint(0, VOCAB, (128, CTX))
        lr_now = opt.learning_rate.item()
        loss = step(ctx, mx.array(temp))
        mx.eval(loss, draft.parameters(), opt.state)
        run = loss.item() if i == 0 else 0.9 * run + 0.1 * loss.item()
        if i % 25 == 0 or i == n_steps - 1:
            print(json.dumps({"stage": name, "step": i, "T": round(temp, 3), "lr": float(f"{lr_now:.3g}"),
                              "kd": round(run, 4), "accept_pct": round(accept_pct(draft), 2),
                              "target_self_pct": 100.0}))

final = accept_pct(draft)
print(json.dumps({"event": "done", "accept_pct": round(final, 2), "uniform_draft_pct": round(uniform_pct, 2),
                  "gain_pts": round(final - uniform_pct, 2)}))
