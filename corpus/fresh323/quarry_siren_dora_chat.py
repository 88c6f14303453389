"""Quarry blast-siren desk: a tiny mlx-lm qwen2 chat model learns the new
read-back rule for blast codes with DoRA adapters.

Stage 0 (quiet): the base model is trained on the old desk rule
(the assistant repeats the code), then frozen.
Stage 1: DoRA adapters on the last two layers learn the new rule
(assistant answers the code reversed plus a check digit). Loss covers
every assistant turn of a two-turn conversation, nothing else.
The run saves adapters + optimizer state half way, throws the model away,
rebuilds it from the base weights and resumes from the checkpoint.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import qwen2
from mlx_lm.tuner.utils import linear_to_lora_layers

SEED = 7
mx.random.seed(SEED)
rng = np.random.default_rng(SEED)

# vocabulary: pad, bos, eos, <user>, <asst>, digits, '-'
SPECIAL = ["<pad>", "<bos>", "<eos>", "<user>", "<asst>"]
CHARS = list("0123456789-")
VOCAB = SPECIAL + CHARS
TOK = {t: i for i, t in enumerate(VOCAB)}
PAD, BOS, EOS, USER, ASST = (TOK[t] for t in SPECIAL)


def make_code():
    n = int(rng.integers(3, 6))
    return "".join(str(int(d)) for d in rng.integers(0, 10, size=n))


def old_rule(code):
    return code


def new_rule(code):
    check = sum(int(c) for c in code) % 10
    return code[::-1] + "-" + str(check)


def render(turns):
    """Chat template: <bos> (<user> code <asst> reply <eos>)*.
    Returns token ids and a 0/1 mask that is 1 on assistant reply tokens
    (and their <eos>)."""
    ids, mask = [BOS], [0]
    for code, reply in turns:
        ids += [USER] + [TOK[c] for c in code] + [ASST]
        mask += [0] * (len(code) + 2)
        ids += [TOK[c] for c in reply] + [EOS]
        mask += [1] * (len(reply) + 1)
    return ids, mask


def make_set(n, rule):
    rows = []
    for _ in range(n):
        turns = []
        for _ in range(2):
            code = make_code()
            turns.append((code, rule(code)))
        rows.append(render(turns))
    return rows


def batches(rows, bs, shuffle=True):
    idx = rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
    for s in range(0, len(rows) - bs + 1, bs):
        chunk = [rows[i] for i in idx[s : s + bs]]
        L = max(len(r[0]) for r in chunk)
        x = np.full((bs, L), PAD, dtype=np.int32)
        m = np.zeros((bs, L), dtype=np.float32)
        for j, (ids, mask) in enumerate(chunk):
            x[j, : len(ids)] = ids
            m[j, : len(mask)] = mask
        yield mx.array(x), mx.array(m)


def masked_ce(model, x, m):
    logits = model(x[:, :-1])
    tgt = x[:, 1:]
    w = m[:, 1:]
    ce = nn.losses.cross_entropy(logits, tgt) * w
    return ce.sum() / w.sum()


def reply_accuracy(model, rows):
    """Token accuracy (teacher forced) and exact-match rate on assistant replies."""
    tok_hit = tok_all = ex_hit = ex_all = 0
    for x, m in batches(rows, 50, shuffle=False):
        pred = mx.argmax(model(x[:, :-1]), axis=-1)
        tgt, w = x[:, 1:], m[:, 1:]
        hit = (pred == tgt).astype(mx.float32) * w
        tok_hit += hit.sum().item()
        tok_all += w.sum().item()
        per_row = (hit.sum(axis=1) == w.sum(axis=1))
        ex_hit += per_row.sum().item()
        ex_all += x.shape[0]
    return tok_hit / tok_all, ex_hit / ex_all


ARGS = qwen2.ModelArgs(
    model_type="qwen2",
    hidden_size=48,
    num_hidden_layers=2,
    intermediate_size=96,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-5,
    vocab_size=len(VOCAB),
    max_position_embeddings=64,
    rope_theta=10000.0,
    tie_word_embeddings=True,
)
DORA_CFG = {"rank": 8, "scale": 2.0, "dropout": 0.0,
            "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]}
DORA_LAYERS = 2

workdir = tempfile.mkdtemp("", "siren_desk_")
t0 = time.time()

# ---------------- stage 0: base model on the old desk rule (quiet) ----------
base = qwen2.Model(ARGS)
base_train = make_set(640, old_rule)
opt0 = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
step0 = nn.value_and_grad(base, masked_ce)
for epoch in range(4):
    for x, m in batches(base_train, 32):
        loss, g = step0(base, x, m)
        opt0.update(base, g)
        mx.eval(base.parameters(), opt0.state)
old_val = make_set(200, old_rule)
acc_old = reply_accuracy(base, old_val)
print(f"[base] old desk rule: reply token acc {acc_old[0]:.3f}  exact {acc_old[1]:.3f}  "
      f"({time.time() - t0:.1f}s)")
base_path = os.path.join(workdir, "base.safetensors")
mx.save_safetensors(base_path, dict(tree_flatten(base.parameters())))
del base


def build_adapted():
    model = qwen2.Model(ARGS)
    model.load_weights(base_path)
    model.freeze()
    linear_to_lora_layers(model, DORA_LAYERS, DORA_CFG, use_dora=True)
    return model


# ---------------- stage 1: DoRA on the new rule -----------------------------
train_rows = make_set(1200, new_rule)
val_rows = make_set(240, new_rule)

TOTAL_STEPS = 240
WARMUP = 30
PEAK_LR = 3e-3
BS = 16
ACCUM = 2
RESUME_AT = 120


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


model = build_adapted()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[dora] trainable {n_train} / {n_all} params "
      f"({100 * n_train / n_all:.2f}%) on the last {DORA_LAYERS} layers")

val_loss0 = masked_ce(model, *next(batches(val_rows, 240, shuffle=False))).item()
acc0 = reply_accuracy(model, val_rows)
uniform = float(np.log(len(VOCAB)))
print(f"[dora] before adapting: val loss {val_loss0:.3f}  reply token acc {acc0[0]:.3f}  "
      f"exact {acc0[1]:.3f}  (uniform-guess loss {uniform:.3f})")

opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, masked_ce)


def stream():
    while True:
        for b in batches(train_rows, BS):
            yield b


data = stream()
step = 0
running = []


def train_until(model, opt, loss_and_grad, stop):
    global step
    while step < stop:
        acc_g = None
        tot = 0.0
        for _ in range(ACCUM):
            x, m = next(data)
            loss, g = loss_and_grad(model, x, m)
            acc_g = g if acc_g is None else tree_unflatten(
                [(k, a + b) for (k, a), (_, b) in zip(tree_flatten(acc_g), tree_flatten(g))])
            tot += loss.item()
        acc_g = tree_unflatten([(k, v / ACCUM) for k, v in tree_flatten(acc_g)])
        lr_now = opt.learning_rate.item()
        opt.update(model, acc_g)
        mx.eval(model.trainable_parameters(), opt.state)
        step += 1
        running.append(tot / ACCUM)
        if step == 1 or step % 20 == 0:
            vl = masked_ce(model, *next(batches(val_rows, 240, shuffle=False))).item()
            print(f"step {step:4d}  lr {lr_now:.2e}  train {np.mean(running):.4f}  val {vl:.4f}")
            running.clear()


train_until(model, opt, loss_and_grad, RESUME_AT)

# checkpoint: adapters + optimizer state, then drop everything
ad_path = os.path.join(workdir, "adapters.safetensors")
op_path = os.path.join(workdir, "optimizer.safetensors")
mx.save_safetensors(ad_path, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(op_path, dict(tree_flatten(opt.state)))
acc_mid = reply_accuracy(model, val_rows)
print(f"[ckpt] step {step}: saved adapters and optimizer state "
      f"(reply token acc {acc_mid[0]:.3f})")
del model, opt, loss_and_grad

model = build_adapted()
model.load_weights(ad_path, strict=False)
opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(op_path).items()))
loss_and_grad = nn.value_and_grad(model, masked_ce)
acc_res = reply_accuracy(model, val_rows)
print(f"[resume] rebuilt model, optimizer step {opt.step.item()}, "
      f"reply token acc {acc_res[0]:.3f}")

train_until(model, opt, loss_and_grad, TOTAL_STEPS)

val_loss = masked_ce(model, *next(batches(val_rows, 240, shuffle=False))).item()
acc1 = reply_accuracy(model, val_rows)
print(f"[final] val loss {val_loss:.4f}  reply token acc {acc1[0]:.3f}  exact {acc1[1]:.3f}")
print(f"[final] baseline before adapting: token acc {acc0[0]:.3f}  exact {acc0[1]:.3f}")
print(f"done in {time.time() - t0:.1f}s")
