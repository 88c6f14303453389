"""Glass studio recipe search: distil a slow pairwise scorer into a small bi-encoder (MarginMSE).

Queries are short furnace-log notes, passages are batch recipe cards. The teacher is a
frozen pairwise scorer; the student learns embeddings whose dot-product margins match it.
The run checkpoints at step 240, then a fresh process-style restore resumes from that file.
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

SEED = 11
VOCAB = 400
N_STYLES = 24
DIM = 32
BATCH = 32
TOTAL_STEPS = 480
CKPT_STEP = 240

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# each glass style (colour/working property) has query words and card words;
# styles are related through a hidden 6-d property vector (teacher uses it)
props = rng.normal(size=(N_STYLES, 6))
props /= np.linalg.norm(props, axis=1, keepdims=True)
q_words = rng.permutation(np.arange(10, 10 + N_STYLES * 7)).reshape(N_STYLES, 7)
c_words = rng.permutation(np.arange(200, 200 + N_STYLES * 7)).reshape(N_STYLES, 7)


def sample(words, lo, hi):
    n = int(rng.integers(lo, hi + 1))
    return [int(rng.choice(words)) if rng.random() > 0.3 else int(rng.integers(1, 10)) for _ in range(n)]


def pad(rows, width):
    out = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        out[i, : min(len(r), width)] = r[:width]
    return mx.array(out)


def teacher_score(sq, sp):
    # slow pairwise scorer: property agreement with a sharp bonus for the same style
    return 4.0 * np.sum(props[sq] * props[sp], axis=-1) + 3.0 * (sq == sp)


def make_batch(n):
    sq = rng.integers(0, N_STYLES, size=n)
    # positive: same style most of the time, sometimes a close neighbour
    sp = np.where(rng.random(n) < 0.8, sq, rng.integers(0, N_STYLES, size=n))
    sn = rng.integers(0, N_STYLES, size=n)
    q = pad([sample(q_words[s], 3, 8) for s in sq], 8)
    p = pad([sample(c_words[s], 6, 16) for s in sp], 16)
    ng = pad([sample(c_words[s], 6, 16) for s in sn], 16)
    margin = teacher_score(sq, sp) - teacher_score(sq, sn)
    return q, p, ng, mx.array(margin.astype(np.float32))


class BagEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 48)
        self.gate = nn.Linear(48, 1)
        self.proj = nn.Sequential(nn.Linear(48, 64), nn.SiLU(), nn.Linear(64, DIM))

    def __call__(self, ids):
        h = self.tok(ids)
        w = self.gate(h)[..., 0]
        w = mx.where(ids != 0, w, -1e9)
        a = mx.softmax(w, axis=-1)[..., None]
        return self.proj((a * h).sum(axis=1))


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = BagEncoder()
        self.card = BagEncoder()

    def score(self, q, p):
        return mx.sum(self.query(q) * self.card(p), axis=-1)


def margin_mse(model, q, p, ng, target):
    m = model.score(q, p) - model.score(q, ng)
    return nn.losses.mse_loss(m, target)


# held-out ranking check: 48 queries x all 24 style cards
eval_sq = np.repeat(np.arange(N_STYLES), 2)
eval_q = pad([sample(q_words[s], 3, 8) for s in eval_sq], 8)
eval_cards = pad([sample(c_words[s], 10, 16) for s in range(N_STYLES)], 16)
teacher_full = 4.0 * props[eval_sq] @ props.T + 3.0 * (eval_sq[:, None] == np.arange(N_STYLES)[None])


def ranking_report(model):
    s = np.array(model.query(eval_q) @ model.card(eval_cards).T)
    top1 = float(np.mean(np.argmax(s, axis=1) == eval_sq)) * 100
    # pairwise agreement with the teacher's ordering (50% = unrelated)
    i, j = np.triu_indices(N_STYLES, 1)
    agree = np.mean(np.sign(s[:, i] - s[:, j]) == np.sign(teacher_full[:, i] - teacher_full[:, j])) * 100
    return top1, float(agree)


def lexical_baseline():
    # word-overlap scorer: query and card vocabularies are disjoint, so this sits at chance
    return 100.0 / N_STYLES


def build(start_step=0):
    model = Student()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, TOTAL_STEPS - 60, 1e-4)], [60]
    )
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    opt.init(model.trainable_parameters())
    return model, opt


def save_ckpt(path, model, opt, step):
    mx.save_safetensors(path + ".model.safetensors", dict(tree_flatten(model.parameters())))
    mx.save_safetensors(path + ".opt.safetensors", dict(tree_flatten(opt.state)))
    with open(path + ".json", "w") as f:
        json.dump({"step": step, "rng": rng.bit_generator.state}, f)


def load_ckpt(path, model, opt):
    model.load_weights(path + ".model.safetensors")
    opt.state = tree_unflatten(list(mx.load(path + ".opt.safetensors").items()))
    with open(path + ".json") as f:
        meta = json.load(f)
    rng.bit_generator.state = meta["rng"]
    return meta["step"]


def run(model, opt, first, last, log_every=40):
    lvg = nn.value_and_grad(model, margin_mse)
    window = []
    for step in range(first, last + 1):
        q, p, ng, tgt = make_batch(BATCH)
        lr_now = opt.learning_rate.item()
        loss, grads = lvg(model, q, p, ng, tgt)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            print(f"step 1 lr {lr_now:.3e} (warm-up starts at zero) margin_mse {window[-1]:.3f}")
        if step % log_every == 0:
            top1, agree = ranking_report(model)
            print(
                f"step {step:4d}  lr {lr_now:.2e}  margin_mse {np.mean(window):7.3f}  "
                f"neg_mse_score {-np.mean(window):8.3f}  top1 {top1:5.1f}%  order_agree {agree:5.1f}%"
            )
            window = []


ckdir = tempfile.mkdtemp()
ck = os.path.join(ckdir, "student")
t0 = time.time()

model, opt = build()
top1, agree = ranking_report(model)
print(f"untrained: top1 {top1:.1f}% order_agree {agree:.1f}% | lexical baseline top1 {lexical_baseline():.1f}% | chance order 50.0%")
run(model, opt, 1, CKPT_STEP)
save_ckpt(ck, model, opt, CKPT_STEP)
print(f"checkpoint written at step {CKPT_STEP}; dropping the in-memory model")
del model, opt

model, opt = build()
start = load_ckpt(ck, model, opt)
top1, agree = ranking_report(model)
print(f"resumed from step {start}: top1 {top1:.1f}% order_agree {agree:.1f}% lr {opt.learning_rate.item():.2e}")
run(model, opt, start + 1, TOTAL_STEPS)

top1, agree = ranking_report(model)
print(f"done in {time.time() - t0:.1f}s: top1 {top1:.1f}% order_agree {agree:.1f}% (lexical {lexical_baseline():.1f}%)")
