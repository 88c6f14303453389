"""Scriptorium glosses: a tiny Llama (mlx_lm.models.llama) learns to expand a
copyist's abbreviation into the full gloss. Warm-restart cosine schedule."""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from mlx_lm.models import llama

LETTERS, PAD, SEP, END = 10, 10, 11, 12
V, MAXLEN, B = 13, 2 * 5 + 2, 32
rng = np.random.default_rng(11)
gloss = rng.permutation(LETTERS)          # each abbreviated letter has one expansion

def batch(n):
    x = np.full((n, MAXLEN), PAD, dtype=np.int32)
    m = np.zeros((n, MAXLEN - 1), dtype=np.float32)
    lens = rng.integers(3, 6, n)
    for i, k in enumerate(lens):
        a = rng.integers(0, LETTERS, k)
        row = np.concatenate([a, [SEP], gloss[a], [END]])
        x[i, : len(row)] = row
        m[i, k : 2 * k + 1] = 1.0          # predict the gloss and the end mark only
    return x, m, lens

mx.random.seed(0)
args = llama.ModelArgs(model_type="llama", hidden_size=48, num_hidden_layers=2,
                       intermediate_size=96, num_attention_heads=4, rms_norm_eps=1e-5,
                       vocab_size=V, num_key_value_heads=4, tie_word_embeddings=True,
                       rope_theta=10000.0)
model = llama.Model(args)

def loss_fn(model, x, m):
    ce = nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:], reduction="none")
    return (ce * m).sum() / m.sum()

CYCLE, CYCLES, WARM, ACC = 100, 3, 10, 2
parts = [optim.join_schedules([optim.linear_schedule(0.0, 4e-3, WARM),
                               optim.cosine_decay(4e-3, CYCLE - WARM, 2e-5)], [WARM])]
parts += [optim.cosine_decay(4e-3, CYCLE, 2e-5) for _ in range(CYCLES - 1)]
sched = optim.join_schedules(parts, [CYCLE * (c + 1) for c in range(CYCLES - 1)])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
grad_fn = nn.value_and_grad(model, loss_fn)

vx, vm, vl = batch(200)
vx_a, vm_a = mx.array(vx), mx.array(vm)

def exact_match():
    pred = np.array(mx.argmax(model(vx_a[:, :-1]), axis=-1))   # teacher-forced gloss letters
    ok = [(pred[i, k : 2 * k + 1] == vx[i, k + 1 : 2 * k + 2]).all() for i, k in enumerate(vl)]
    copy = [(vx[i, :k] == vx[i, k + 1 : 2 * k + 1]).all() for i, k in enumerate(vl)]
    return float(np.mean(ok)), float(np.mean(copy))

def emit(**kw):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in kw.items()}))

emit(event="setup", params=sum(v.size for _, v in tree_flatten(model.parameters())),
     uniform_nats=round(math.log(V), 4), schedule=f"{CYCLES} cosine cycles of {CYCLE}, warm-up from 0")
t0 = time.time()
for it in range(CYCLE * CYCLES):
    gsum, lsum = None, 0.0
    for _ in range(ACC):
        x, m, _ = batch(B)
        l, g = grad_fn(model, mx.array(x), mx.array(m))
        gsum = g if gsum is None else tree_map(lambda a, b: a + b, gsum, g)
        lsum += l
    lr = float(sched(mx.array(it)))
    opt.update(model, tree_map(lambda a: a / ACC, gsum))
    mx.eval(model.parameters(), opt.state, lsum)
    if it % 20 == 0 or it % CYCLE == CYCLE - 1:
        vloss = loss_fn(model, vx_a, vm_a).item()
        em, copy = exact_match()
        emit(step=it, cycle=it // CYCLE + 1, lr=lr, train_loss=lsum.item() / ACC, val_loss=vloss,
             val_loglik=-vloss, gloss_exact=em, copy_baseline=copy)
em, copy = exact_match()
emit(event="end", val_loss=loss_fn(model, vx_a, vm_a).item(), gloss_exact=em,
     copy_baseline=copy, chance_per_letter=round(1 / LETTERS, 4), seconds=round(time.time() - t0, 1))
