"""Foghorn keeper logbook: adapter fine-tune of a tiny mlx-lm llama on a keeper's shorthand.

The base model learned the old shorthand (weather tokens -> code tokens) from the
district logbooks.  A new keeper writes her codes differently; only a few dozen of
her entries exist and a fifth of her code tokens are smudged (random).  The adapter
is fitted with early stopping on a held-out page and the best adapter is restored.
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

K = 16                      # weather / code symbols
BOS, SEP, EOS = 2 * K, 2 * K + 1, 2 * K + 2
V = 2 * K + 3
L_PROMPT = 4
rng = np.random.default_rng(7)
mx.random.seed(7)


def old_rule(w):
    return (w + 3) % K


def new_rule(w):
    return (w + 9) % K


def make_rows(n, rule, smudge=0.0):
    rows = []
    for _ in range(n):
        w = rng.integers(0, K, size=L_PROMPT)
        c = rule(w)
        if smudge > 0:
            hit = rng.random(L_PROMPT) < smudge
            c = np.where(hit, rng.integers(0, K, size=L_PROMPT), c)
        rows.append([BOS, *w.tolist(), SEP, *(K + c).tolist(), EOS])
    return np.array(rows, dtype=np.int32)


def batches(rows, bs, steps):
    for _ in range(steps):
        idx = rng.integers(0, len(rows), size=bs)
        yield mx.array(rows[idx])


def lengths_for(n):
    # completion starts at position 6 (first code token), ends at EOS (position 10)
    return mx.array(np.tile([[L_PROMPT + 2, 2 * L_PROMPT + 2]], (n, 1)).astype(np.int32))


def mean_loss(model, rows):
    loss, ntoks = default_loss(model, mx.array(rows), lengths_for(len(rows)))
    return loss.item()


def exact_match(model, rows):
    seq = mx.array(rows[:, : L_PROMPT + 2])
    for _ in range(L_PROMPT):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    got = np.array(seq[:, L_PROMPT + 2:])
    return float((got == rows[:, L_PROMPT + 2: 2 * L_PROMPT + 2]).all(axis=1).mean())


args = llama.ModelArgs(
    model_type="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
    num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5, vocab_size=V,
    tie_word_embeddings=True,
)
model = llama.Model(args)
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"model: llama 2x64, {n_all} parameters, vocab {V}")

# ---- stage 1: district logbooks (quiet) --------------------------------------------
district = make_rows(4000, old_rule)
opt1 = optim.AdamW(learning_rate=optim.cosine_decay(5e-3, 220, 5e-4), weight_decay=0.01)
state1 = [model.state, opt1.state]


@partial(mx.compile, inputs=state1, outputs=state1)
def base_step(batch, lengths):
    (loss, _), grads = nn.value_and_grad(model, default_loss)(model, batch, lengths)
    opt1.update(model, grads)
    return loss


t0 = time.time()
lens16 = lengths_for(16)
for it, b in enumerate(batches(district, 16, 220), 1):
    loss = base_step(b, lens16)
    mx.eval(state1, loss)
    if it in (1, 220):
        print(f"district fit  iter {it:4d}  loss {loss.item():.3f}")
held_old = make_rows(128, old_rule)
print(f"district fit done in {time.time() - t0:.1f}s, old-shorthand exact match {exact_match(model, held_old):.3f}")

# ---- stage 2: the new keeper's pages, LoRA with early stopping ---------------------
keeper_train = make_rows(32, new_rule, smudge=0.3)
keeper_val = make_rows(128, new_rule)
model.freeze()
linear_to_lora_layers(model, 2, {"rank": 8, "scale": 10.0, "dropout": 0.0,
                                 "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.up_proj", "mlp.down_proj"]})
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable parameters: {n_train} of {sum(v.size for _, v in tree_flatten(model.parameters()))}")
frozen_ref = {k: v for k, v in tree_flatten(model.parameters()) if "lora" not in k}

base_val = mean_loss(model, keeper_val)
print(f"reference lines: uniform guess {math.log(V):.3f} nats, frozen base on keeper page {base_val:.3f} nats, "
      f"base exact match {exact_match(model, keeper_val):.3f}")

warm = 20
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, 480, 4e-4)], [warm])
opt2 = optim.Adam(learning_rate=sched)
state2 = [model.state, opt2.state]


@partial(mx.compile, inputs=state2, outputs=state2)
def adapter_step(batch, lengths):
    (loss, _), grads = nn.value_and_grad(model, default_loss)(model, batch, lengths)
    grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
    opt2.update(model, grads)
    return loss, gnorm


best = (float("inf"), 0, None)
patience, bad = 6, 0
lens8 = lengths_for(8)
print("step   lr        train   val     val logp/tok  grad-norm  note")
for it, b in enumerate(batches(keeper_train, 8, 500), 1):
    lr_now = opt2.learning_rate.item()
    loss, gnorm = adapter_step(b, lens8)
    mx.eval(state2, loss, gnorm)
    if it == 1 or it % 20 == 0:
        v = mean_loss(model, keeper_val)
        note = ""
        if v < best[0] - 1e-3:
            best = (v, it, {k: mx.array(p) for k, p in tree_flatten(model.trainable_parameters())})
            bad = 0
            note = "best"
        elif it > 1:
            bad += 1
            note = f"no gain {bad}/{patience}"
        print(f"{it:5d}  {lr_now:.2e}  {loss.item():.3f}   {v:.3f}   {-v:+.3f}       {gnorm.item():.3f}     {note}")
        if bad >= patience:
            print(f"early stop at step {it}: val has not improved since step {best[1]}")
            break

final_val = mean_loss(model, keeper_val)
model.load_weights(list(best[2].items()), strict=False)
mx.eval(model.parameters())
restored_val = mean_loss(model, keeper_val)
drift = max(mx.abs(v - frozen_ref[k]).max().item() for k, v in tree_flatten(model.parameters()) if k in frozen_ref)
print(f"val at stop {final_val:.3f}  ->  restored best (step {best[1]}) {restored_val:.3f}   "
      f"[frozen base {base_val:.3f}, uniform {math.log(V):.3f}]")
print(f"keeper exact match after restore {exact_match(model, keeper_val):.3f}; "
      f"old shorthand exact match now {exact_match(model, held_old):.3f} (adapters active)")
print(f"frozen weight drift {drift:.1e}")
