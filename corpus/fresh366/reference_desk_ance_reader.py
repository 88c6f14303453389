"""Reference-desk QA: dense retriever trained with periodically re-mined negatives,
then a reader trained on what the retriever returns (with a checkpoint/resume)."""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(3)
mx.random.seed(3)
T0 = time.time()

N_ENT, N_REL, N_ANS = 24, 4, 16
ENT0, REL0, ANS0, FILL0 = 1, 1 + N_ENT, 1 + N_ENT + N_REL, 1 + N_ENT + N_REL + N_ANS
ALIAS0 = FILL0 + 60  # questions name entities / relations by catalogue aliases
RALIAS0 = ALIAS0 + 2 * N_ENT
VOCAB = RALIAS0 + 3 * N_REL
DIM = 64


def log(**kv):
    kv = {"t": f"{time.time() - T0:.1f}s", **kv}
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


# passages: one per (entity, relation) with an answer token
passages, answers = [], []
for e in range(N_ENT):
    for r in range(N_REL):
        a = random.randrange(N_ANS)
        toks = [ENT0 + e, REL0 + r, ANS0 + a] + random.sample(range(FILL0, ALIAS0), 9)
        random.shuffle(toks)
        passages.append(toks)
        answers.append(a)
P = len(passages)


def question(pid):
    e, r = divmod(pid, N_REL)
    et = ENT0 + e if random.random() < 0.3 else ALIAS0 + 2 * e + random.randrange(2)
    rt = RALIAS0 + 3 * r + random.randrange(3)
    toks = [et, rt] + random.sample(range(FILL0, ALIAS0), 6)
    random.shuffle(toks)
    return toks


train_q = [(question(p), p) for p in range(P) for _ in range(4)]
test_q = [(question(p), p) for p in range(P) for _ in range(2)]


def pad(seqs):
    L = max(len(s) for s in seqs)
    return mx.array([s + [0] * (L - len(s)) for s in seqs])


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(DIM, DIM)

    def __call__(self, emb_w, ids):
        m = (ids > 0)[..., None].astype(mx.float32)
        h = (emb_w[ids] * m).sum(1) / m.sum(1)
        z = self.proj(nn.gelu(h)) + h
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


class Retriever(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.q = Tower()
        self.p = Tower()

    def encode_q(self, ids):
        return self.q(self.emb.weight, ids)

    def encode_p(self, ids):
        return self.p(self.emb.weight, ids)


ret = Retriever()
P_IDS = pad(passages)


def build_index():
    idx = ret.encode_p(P_IDS)
    mx.eval(idx)
    return idx


def lexical_top1(q):
    scores = [len(set(q) & set(p)) + 1e-3 * random.random() for p in passages]
    return max(range(P), key=lambda i: scores[i])


def recall_at(k, qs, index):
    qe = ret.encode_q(pad([q for q, _ in qs]))
    top = mx.argsort(-(qe @ index.T), axis=1)[:, :k]
    gold = mx.array([p for _, p in qs])[:, None]
    return (top == gold).any(axis=1).astype(mx.float32).mean().item()


lex_r1 = sum(lexical_top1(q) == p for q, p in test_q) / len(test_q)

# ---------------- stage 1: retriever, negatives re-mined from a refreshed index ----------------
TAU, B, STEPS1, REFRESH, WARM = 0.1, 32, 360, 90, 30
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS1 - WARM, 1e-4)], [WARM]
)
opt1 = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def nce(model, q_ids, c_ids):
    qe = model.encode_q(q_ids)
    ce = model.encode_p(c_ids)
    logits = qe @ ce.T / TAU
    return nn.losses.cross_entropy(logits, mx.arange(q_ids.shape[0]), reduction="mean")


nce_grad = nn.value_and_grad(ret, nce)
hard_neg = {i: random.randrange(P) for i in range(len(train_q))}  # random until the first refresh

log(stage="setup", passages=P, train_q=len(train_q), test_q=len(test_q),
    lexical_r1=f"{lex_r1:.3f}", chance_r1=f"{1 / P:.3f}", uniform_nce=f"{math.log(2 * B):.3f}")
g_check = None
window = []
for step in range(STEPS1):
    if step % REFRESH == 0:
        index = build_index()
        if step > 0:
            qe = ret.encode_q(pad([q for q, _ in train_q]))
            ranked = mx.argsort(-(qe @ index.T), axis=1)[:, :2]
            mx.eval(ranked)
            ranked = ranked.tolist()
            for i, (_, p) in enumerate(train_q):
                hard_neg[i] = ranked[i][0] if ranked[i][0] != p else ranked[i][1]
            log(stage="retriever", event="index_refresh", step=step,
                test_r1=f"{recall_at(1, test_q, index):.3f}", test_r5=f"{recall_at(5, test_q, index):.3f}")
    batch = random.sample(range(len(train_q)), B)
    q_ids = pad([train_q[i][0] for i in batch])
    c_ids = pad([passages[train_q[i][1]] for i in batch] + [passages[hard_neg[i]] for i in batch])
    loss, grads = nce_grad(ret, q_ids, c_ids)
    if g_check is None:
        leaves = tree_flatten(grads)
        g_check = sum(1 for _, g in leaves if mx.abs(g).sum().item() > 0)
        log(stage="retriever", event="grad_check", nonzero_tensors=f"{g_check}/{len(leaves)}",
            lr_at_step0=f"{sched(0).item():.1e}")
    opt1.update(ret, grads)
    mx.eval(ret.parameters(), opt1.state, loss)
    window.append(loss.item())
    if (step + 1) % 30 == 0:
        log(stage="retriever", step=step + 1, lr=f"{sched(step).item():.2e}",
            nce=f"{sum(window) / len(window):.4f}")
        window = []

index = build_index()
r1, r5 = recall_at(1, test_q, index), recall_at(5, test_q, index)
log(stage="retriever", event="final", test_r1=f"{r1:.3f}", test_r5=f"{r5:.3f}", lexical_r1=f"{lex_r1:.3f}")

# ---------------- stage 2: reader on retrieved passages (retriever frozen on purpose) ----------------
ret.freeze()


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(2 * DIM, DIM)
        self.out = nn.Linear(DIM, N_ANS)

    def __call__(self, q_ids, p_ids):
        def bag(ids):
            m = (ids > 0)[..., None].astype(mx.float32)
            return (self.emb(ids) * m).sum(1)

        h = nn.relu(self.mix(mx.concatenate([bag(q_ids), bag(p_ids)], axis=-1)))
        return self.out(h)


def retrieve(qs):
    qe = ret.encode_q(pad([q for q, _ in qs]))
    top = mx.argmax(qe @ index.T, axis=1)
    mx.eval(top)
    return top.tolist()


train_top = retrieve(train_q)
test_top = retrieve(test_q)


def reader_xent(model, q_ids, p_ids, y):
    return nn.losses.cross_entropy(model(q_ids, p_ids), y, reduction="mean")


def exact_match(model, qs, tops):
    logits = model(pad([q for q, _ in qs]), pad([passages[t] for t in tops]))
    y = mx.array([answers[p] for _, p in qs])
    return (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean().item()


def new_reader():
    m = Reader()
    o = optim.Adam(learning_rate=3e-3)
    return m, o


reader, opt2 = new_reader()
STEPS2, CKPT_AT = 300, 150
ckpt_tmp = tempfile.TemporaryDirectory()
ckpt_dir = ckpt_tmp.name
step = 0
while step < STEPS2:
    if step == CKPT_AT:
        mx.save_safetensors(os.path.join(ckpt_dir, "reader.safetensors"), dict(tree_flatten(reader.parameters())))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt2.state)))
        log(stage="reader", event="checkpoint", step=step, dir=ckpt_dir)
        del reader, opt2
        reader, opt2 = new_reader()
        reader.load_weights(os.path.join(ckpt_dir, "reader.safetensors"))
        opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(reader.parameters(), opt2.state)
        log(stage="reader", event="resumed", step=step, opt_step=int(opt2.step.item()),
            test_em=f"{exact_match(reader, test_q, test_top):.3f}")
        rg = nn.value_and_grad(reader, reader_xent)
    if step == 0:
        rg = nn.value_and_grad(reader, reader_xent)
    batch = random.sample(range(len(train_q)), 48)
    q_ids = pad([train_q[i][0] for i in batch])
    p_ids = pad([passages[train_top[i]] for i in batch])
    y = mx.array([answers[train_q[i][1]] for i in batch])
    loss, grads = rg(reader, q_ids, p_ids, y)
    opt2.update(reader, grads)
    mx.eval(reader.parameters(), opt2.state, loss)
    step += 1
    if step % 50 == 0:
        log(stage="reader", step=step, xent=f"{loss.item():.4f}",
            test_em=f"{exact_match(reader, test_q, test_top):.3f}")

oracle_em = exact_match(reader, test_q, [p for _, p in test_q])
log(stage="done", end_to_end_em=f"{exact_match(reader, test_q, test_top):.3f}",
    oracle_passage_em=f"{oracle_em:.3f}", retriever_r1=f"{r1:.3f}", chance_em=f"{1 / N_ANS:.3f}")
ckpt_tmp.cleanup()
