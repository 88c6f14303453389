"""Wharfinger tally book: preference tuning (DPO) of a tiny mlx-lm llama.

Two clerks kept the tally book; for each berth reading they wrote one of two code
styles.  The supervised fit copies both styles.  The wharfinger prefers the
second clerk's style, so pairs (preferred, dispreferred) are used to tune LoRA
adapters with the DPO objective against the frozen supervised model.
Output is logfmt (key=value) lines.
"""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from mlx_lm.tuner.trainer import default_loss
from mlx_lm.tuner.utils import linear_to_lora_layers

K = 12
BOS, SEP, EOS = 2 * K, 2 * K + 1, 2 * K + 2
V = 2 * K + 3
P = 3
C0 = P + 2                     # first completion position
rng = np.random.default_rng(11)
mx.random.seed(11)


def style_a(w):
    return (w + 3) % K


def style_b(w):
    return (w + 9) % K


def row(w, c):
    return [BOS, *w.tolist(), SEP, *(K + c).tolist(), EOS]


def log(**kv):
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in kv.items()))


args = llama.ModelArgs(
    model_type="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
    num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5, vocab_size=V,
    tie_word_embeddings=True,
)

# ---- stage 1: supervised fit on both clerks' entries (quiet) -----------------------
sft_rows = []
for _ in range(6000):
    w = rng.integers(0, K, size=P)
    sft_rows.append(row(w, style_b(w) if rng.random() < 0.5 else style_a(w)))
sft_rows = np.array(sft_rows, dtype=np.int32)

policy = llama.Model(args)
opt1 = optim.AdamW(learning_rate=optim.cosine_decay(4e-3, 500, 3e-4), weight_decay=0.01)
s1 = [policy.state, opt1.state]


@partial(mx.compile, inputs=s1, outputs=s1)
def sft_step(batch, lengths):
    (loss, _), grads = nn.value_and_grad(policy, default_loss)(policy, batch, lengths)
    opt1.update(policy, grads)
    return loss


lens = mx.array(np.tile([[C0, 2 * P + 2]], (16, 1)).astype(np.int32))
t0 = time.time()
for it in range(1, 501):
    b = mx.array(sft_rows[rng.integers(0, len(sft_rows), size=16)])
    loss = sft_step(b, lens)
    mx.eval(s1, loss)
log(event="sft_done", steps=500, loss=loss.item(), floor=math.log(2) / (P + 1), secs=round(time.time() - t0, 1))

# frozen reference = a second copy of the supervised weights
reference = llama.Model(args)
reference.load_weights(list(tree_flatten(policy.parameters())))
reference.freeze()
reference.eval()


def completion_logp(model, toks):
    logits = model(toks[:, :-1]).astype(mx.float32)
    lp = nn.log_softmax(logits, axis=-1)
    tgt = toks[:, 1:]
    tok_lp = mx.take_along_axis(lp, tgt[..., None], axis=-1).squeeze(-1)
    return tok_lp[:, C0 - 1:].sum(axis=1)          # code tokens + EOS


def greedy_style(model, prompts):
    seq = mx.array(prompts)
    for _ in range(P):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    got = np.array(seq[:, C0:]) - K
    w = prompts[:, 1:1 + P]
    return float((got == style_b(w)).all(1).mean()), float((got == style_a(w)).all(1).mean())


# ---- preference pairs --------------------------------------------------------------
def pairs(n):
    ch, rj = [], []
    for _ in range(n):
        w = rng.integers(0, K, size=P)
        ch.append(row(w, style_b(w)))
        rj.append(row(w, style_a(w)))
    return np.array(ch, np.int32), np.array(rj, np.int32)


tr_c, tr_r = pairs(384)
va_c, va_r = pairs(128)
ref_tr_c, ref_tr_r = completion_logp(reference, mx.array(tr_c)), completion_logp(reference, mx.array(tr_r))
ref_va_c, ref_va_r = completion_logp(reference, mx.array(va_c)), completion_logp(reference, mx.array(va_r))
mx.eval(ref_tr_c, ref_tr_r, ref_va_c, ref_va_r)
b_rate, a_rate = greedy_style(reference, va_c[:, :C0])
log(event="reference", preferred_style_rate=b_rate, other_style_rate=a_rate,
    logp_preferred=ref_va_c.mean().item(), logp_other=ref_va_r.mean().item())

# ---- stage 2: DPO on LoRA adapters -------------------------------------------------
policy.freeze()
linear_to_lora_layers(policy, 2, {"rank": 8, "scale": 4.0, "dropout": 0.0,
                                  "keys": ["self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj"]})
log(event="adapters", trainable=sum(v.size for _, v in tree_flatten(policy.trainable_parameters())))
BETA = 0.1
ALPHA = 1.0


def dpo_loss(model, c, r, rc, rr):
    pc, pr = completion_logp(model, c), completion_logp(model, r)
    rew_c, rew_r = BETA * (pc - rc), BETA * (pr - rr)
    pref = -nn.log_sigmoid(rew_c - rew_r).mean()
    nll = -(pc / (P + 1)).mean()                    # keeps the preferred entries likely (DPO + NLL)
    loss = pref + ALPHA * nll
    return loss, (rew_c.mean(), rew_r.mean(), (rew_c > rew_r).astype(mx.float32).mean(), pc.mean(), pref)


warm = 15
opt2 = optim.AdamW(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, 165, 1e-4)], [warm]), weight_decay=0.0)
s2 = [policy.state, opt2.state]


@partial(mx.compile, inputs=s2, outputs=s2)
def dpo_step(c, r, rc, rr):
    (loss, aux), grads = nn.value_and_grad(policy, dpo_loss)(policy, c, r, rc, rr)
    opt2.update(policy, grads)
    return loss, aux


log(event="baselines", pref_term_at_start=math.log(2), nll_term_at_start=-ref_va_c.mean().item() / (P + 1), pair_accuracy_chance=0.5)
for it in range(1, 181):
    lr = opt2.learning_rate.item()
    idx = mx.array(rng.integers(0, len(tr_c), size=8))
    loss, aux = dpo_step(mx.array(tr_c)[idx], mx.array(tr_r)[idx], ref_tr_c[idx], ref_tr_r[idx])
    mx.eval(s2, loss, aux)
    if it in (1, 2, 5) or it % 15 == 0:
        vl, (vc, vr, vacc, vpc, vpref) = dpo_loss(policy, mx.array(va_c), mx.array(va_r), ref_va_c, ref_va_r)
        log(step=it, lr=lr, loss=loss.item(), val_loss=vl.item(), val_pref_term=vpref.item(), reward_preferred=vc.item(),
            reward_other=vr.item(), margin=(vc - vr).item(), pair_acc=vacc.item(), logp_preferred=vpc.item())

b_rate, a_rate = greedy_style(policy, va_c[:, :C0])
log(event="final", preferred_style_rate=b_rate, other_style_rate=a_rate)
drift = max(mx.abs(p - q).max().item() for (k, p), (_, q) in
            zip(sorted(tree_flatten(reference.parameters())),
                sorted((k, v) for k, v in tree_flatten(policy.parameters()) if "lora" not in k)))
log(event="audit", frozen_drift=drift)
