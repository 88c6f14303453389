"""Ship's-logbook phrase model: a causal attention teacher is trained on synthetic
log lines, then a much smaller causal attention student learns the teacher's next-token distributions
(temperature 2, padded batches with a token mask). Halfway through the student
run the weights and optimizer state are written to disk, a fresh student is
built, restored, and training carries on."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

PAD, BOS, EOS = 0, 1, 2
N_WORDS = 18
V = 3 + N_WORDS
MAX_LEN = 16

# hidden-state grammar: 5 "clauses" (heading, wind, sea, sail, remark), each
# emits words from its own slice of the vocabulary, and moves on stochastically
N_STATES = 5
trans = rng.dirichlet(np.full(N_STATES, 0.6), size=N_STATES)
emit = np.zeros((N_STATES, N_WORDS))
for s in range(N_STATES):
    idx = rng.choice(N_WORDS, size=6, replace=False)
    emit[s, idx] = rng.dirichlet(np.full(6, 0.8))
stop_p = 0.13


def sample_line():
    s = rng.integers(N_STATES)
    toks = [BOS]
    while len(toks) < MAX_LEN - 1:
        toks.append(3 + rng.choice(N_WORDS, p=emit[s]))
        if rng.random() < stop_p:
            break
        s = rng.choice(N_STATES, p=trans[s])
    toks.append(EOS)
    return toks


def make_set(n):
    lines = [sample_line() for _ in range(n)]
    arr = np.full((n, MAX_LEN), PAD, dtype=np.int32)
    for i, l in enumerate(lines):
        arr[i, : len(l)] = l
    return arr


train = make_set(4800)
valid = make_set(600)
print(f"lines train {len(train)} valid {len(valid)}  vocab {V}  "
      f"mean length {(train != PAD).sum(1).mean():.1f}")


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(MAX_LEN, d)
        self.block = Block(d, heads)
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, V)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.emb(x) + self.pos(mx.arange(L))
        return self.out(self.ln(self.block(h, mask)))


def batches(data, bs, shuffle=True):
    order = rng.permutation(len(data)) if shuffle else np.arange(len(data))
    for i in range(0, len(data) - bs + 1, bs):
        b = mx.array(data[order[i : i + bs]])
        yield b[:, :-1], b[:, 1:]


def token_ce(model, x, y):
    logits = model(x)
    mask = (y != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * mask).sum() / mask.sum()


def eval_ce(model, data):
    tot, cnt = 0.0, 0.0
    for x, y in batches(data, 200, shuffle=False):
        logits = model(x)
        mask = (y != PAD).astype(mx.float32)
        ce = nn.losses.cross_entropy(logits, y, reduction="none")
        tot += (ce * mask).sum().item()
        cnt += mask.sum().item()
    return tot / cnt


# ---------------- teacher ----------------
teacher = TinyLM(32, 4)
mx.eval(teacher.parameters())
t_opt = optim.Adam(learning_rate=3e-3)
t_step = nn.value_and_grad(teacher, token_ce)
t0 = time.time()
step = 0
for epoch in range(2):
    for x, y in batches(train, 48):
        loss, g = t_step(teacher, x, y)
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
        step += 1
    print(f"teacher epoch {epoch + 1}  train ce {loss.item():.4f}  "
          f"valid ce {eval_ce(teacher, valid):.4f}  ({time.time() - t0:.1f}s)")
teacher.freeze()
teacher_ce = eval_ce(teacher, valid)
print(f"teacher valid ce {teacher_ce:.4f}  (uniform over vocab: {math.log(V):.4f})")

# ---------------- student ----------------
T = 2.0
TOTAL = 300
WARM = 40
RESUME_AT = 150


def make_sched():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, WARM),
         optim.cosine_decay(4e-3, TOTAL - WARM, end=2e-4)],
        [WARM],
    )


def kd_loss(student, x, y):
    s_logits = student(x)
    t_logits = mx.stop_gradient(teacher(x))
    mask = (y != PAD).astype(mx.float32)
    t_logp = nn.log_softmax(t_logits / T, axis=-1)
    s_logp = nn.log_softmax(s_logits / T, axis=-1)
    kl = (mx.exp(t_logp) * (t_logp - s_logp)).sum(-1)
    return (T * T) * (kl * mask).sum() / mask.sum()


def stream(data, bs):
    while True:
        for xy in batches(data, bs):
            yield xy


student = TinyLM(12, 2)
mx.eval(student.parameters())
n_params = sum(v.size for _, v in tree_flatten(student.parameters()))
n_teacher = sum(v.size for _, v in tree_flatten(teacher.parameters()))
print(f"student params {n_params}  teacher params {n_teacher}")
opt = optim.AdamW(learning_rate=make_sched(), weight_decay=0.01)
s_step = nn.value_and_grad(student, kd_loss)
data_iter = stream(train, 32)
ckpt_dir = tempfile.mkdtemp()

it = 0
while it < TOTAL:
    x, y = next(data_iter)
    loss, g = s_step(student, x, y)
    opt.update(student, g)
    mx.eval(student.parameters(), opt.state)
    it += 1
    if it % 25 == 0 or it == 1:
        lr = opt.learning_rate.item()
        print(f"step {it:4d}  lr {lr:.2e}  kd {loss.item():.4f}  "
              f"student valid ce {eval_ce(student, valid):.4f}  teacher {teacher_ce:.4f}")
    if it == RESUME_AT:
        wpath = os.path.join(ckpt_dir, "student.safetensors")
        opath = os.path.join(ckpt_dir, "opt.safetensors")
        mx.save_safetensors(wpath, dict(tree_flatten(student.parameters())))
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint at step {it} -> {ckpt_dir}; rebuilding student")
        student = TinyLM(12, 2)
        student.load_weights(wpath)
        opt = optim.AdamW(learning_rate=make_sched(), weight_decay=0.01)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        s_step = nn.value_and_grad(student, kd_loss)
        print(f"resumed at optimizer step {opt.step.item()}  "
              f"student valid ce {eval_ce(student, valid):.4f}")

final = eval_ce(student, valid)
print(f"final student valid ce {final:.4f}  teacher {teacher_ce:.4f}  "
      f"gap {final - teacher_ce:.4f}  uniform {math.log(V):.4f}")
