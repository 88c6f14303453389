"""Square-dance caller practice: predict the line of five dancers after a call.

Input  : [call, times, d1..d5, SEP]   (call in swing / dosido / promenade / reverse,
                                        times in 1 or 2)
Output : the five dancers in their new order.

Stage 1 trains a small causal transformer with teacher forcing.
The stage-1 weights are checkpointed, reloaded into a fresh model, and stage 2
fine-tunes with self-critical sequence training (SCST): sample a line from the
model with a KV cache, score it, and use the greedy decode's score as the baseline.
The SCST objective is -(r_sample - r_greedy) * log p(sample), so it hovers
around zero and is often negative; the held-out exact-match is what to watch.
"""
import itertools
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_DANCERS = 5
CALLS = ["swing", "dosido", "promenade", "reverse"]
CALL0, TIMES0, SEP = 5, 9, 11
VOCAB = 12
LEAD = 8            # call, times, 5 dancers, SEP
SEQ = LEAD + N_DANCERS


def apply_call(line, call):
    line = list(line)
    if call == "swing":
        for i in (0, 2):
            line[i], line[i + 1] = line[i + 1], line[i]
    elif call == "dosido":
        for i in (1, 3):
            line[i], line[i + 1] = line[i + 1], line[i]
    elif call == "promenade":
        line = line[1:] + line[:1]
    else:
        line = line[::-1]
    return line


def build_rows(perms):
    rows = []
    for p in perms:
        for ci, c in enumerate(CALLS):
            for t in (1, 2):
                out = list(p)
                for _ in range(t):
                    out = apply_call(out, c)
                rows.append([CALL0 + ci, TIMES0 + t - 1] + list(p) + [SEP] + out)
    return np.array(rows, dtype=np.int32)


rng = np.random.default_rng(7)
perms = list(itertools.permutations(range(N_DANCERS)))
rng.shuffle(perms)
n_hold = len(perms) // 5
hold_rows = build_rows(perms[:n_hold])
train_rows = build_rows(perms[n_hold:])
print(f"train lines {len(train_rows)}  held-out lines {len(hold_rows)}")


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def split(self, x):
        B, L, D = x.shape
        return x.reshape(B, L, self.heads, D // self.heads).transpose(0, 2, 1, 3)

    def __call__(self, x, cache=None):
        B, L, D = x.shape
        h = self.ln1(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        if cache is not None:
            k = mx.concatenate([cache[0], k], axis=2)
            v = mx.concatenate([cache[1], v], axis=2)
        S = k.shape[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) / np.sqrt(D // self.heads)
        qpos = mx.arange(S - L, S)[:, None]
        kpos = mx.arange(S)[None, :]
        scores = scores + mx.where(kpos <= qpos, 0.0, -1e9)
        att = mx.softmax(scores, axis=-1) @ v
        att = att.transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + self.o(att)
        x = x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))
        return x, (k, v)


class Caller(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, x, caches=None, offset=0):
        h = self.tok(x) + self.pos(mx.arange(offset, offset + x.shape[1]))
        new = []
        for i, b in enumerate(self.blocks):
            h, c = b(h, None if caches is None else caches[i])
            new.append(c)
        return self.head(self.ln(h)), new


def decode(model, lead, greedy, temp=1.0):
    """Autoregressive decode of the dancers with a KV cache."""
    logits, caches = model(lead)
    last = logits[:, -1, :]
    out = []
    for step in range(N_DANCERS):
        if greedy:
            tok = mx.argmax(last, axis=-1)
        else:
            tok = mx.random.categorical(last / temp)
        out.append(tok)
        if step == N_DANCERS - 1:
            break
        logits, caches = model(tok[:, None], caches, offset=LEAD + step)
        last = logits[:, -1, :]
    return mx.stack(out, axis=1)


def seq_logprob(model, lead, outs):
    full = mx.concatenate([lead, outs], axis=1)
    logits, _ = model(full[:, :-1])
    logits = logits[:, LEAD - 1:, :]
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    picked = mx.take_along_axis(lp, outs[..., None], axis=-1).squeeze(-1)
    return picked.sum(axis=1)


def reward(outs, target):
    return (outs == target).astype(mx.float32).mean(axis=1)


def exact_match(model, rows):
    model.eval()
    x = mx.array(rows)
    outs = decode(model, x[:, :LEAD], greedy=True)
    em = mx.all(outs == x[:, LEAD:], axis=1).astype(mx.float32).mean()
    pos = (outs == x[:, LEAD:]).astype(mx.float32).mean()
    model.train()
    return em.item(), pos.item()


# baseline: leave every dancer where they stand
same = (hold_rows[:, 2:2 + N_DANCERS] == hold_rows[:, LEAD:]).all(axis=1).mean()
print(f"baseline 'nobody moves' held-out exact-match {same:.3f}")

mx.random.seed(3)
model = Caller()
mx.eval(model.parameters())

# ---------------- stage 1: teacher forcing ----------------
TF_STEPS, BATCH = 220, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 20), optim.cosine_decay(4e-3, TF_STEPS - 20, 4e-4)], [20]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)


def tf_loss(model, x):
    logits, _ = model(x[:, :-1])
    logits = logits[:, LEAD - 1:, :]
    tgt = x[:, LEAD:]
    loss = nn.losses.cross_entropy(logits, tgt, reduction="mean")
    acc = (mx.argmax(logits, axis=-1) == tgt).astype(mx.float32).mean()
    return loss, acc


tf_step = nn.value_and_grad(model, tf_loss)
t0 = time.time()
print("stage 1: teacher forcing")
for step in range(1, TF_STEPS + 1):
    idx = rng.integers(0, len(train_rows), BATCH)
    (loss, acc), grads = tf_step(model, mx.array(train_rows[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc)
    if step == 1 or step % 20 == 0:
        print(f"  tf step {step:4d}  lr {sched(step - 1).item():.2e}  loss {loss.item():.4f}  tok-acc {acc.item():.3f}")
    if step % 110 == 0:
        em, pos = exact_match(model, hold_rows)
        print(f"  held-out greedy exact-match {em:.3f}  per-dancer {pos:.3f}")

em1, pos1 = exact_match(model, hold_rows)
print(f"stage 1 done in {time.time() - t0:.1f}s  held-out exact-match {em1:.3f}")

# ---------------- checkpoint and resume ----------------
ckpt_dir = tempfile.mkdtemp()
wpath = os.path.join(ckpt_dir, "stage1.safetensors")
model.save_weights(wpath)
print(f"checkpoint written: {os.path.getsize(wpath) / 1024:.0f} KiB")

model = Caller()
model.load_weights(wpath)
mx.eval(model.parameters())
em_r, _ = exact_match(model, hold_rows)
print(f"reloaded model held-out exact-match {em_r:.3f}")

# ---------------- stage 2: SCST ----------------
RL_STEPS, RL_BATCH = 40, 64
rl_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-4, 8), optim.linear_schedule(1e-4, 1e-5, RL_STEPS - 8)], [8]
)
opt2 = optim.Adam(learning_rate=rl_sched)


def scst_loss(model, lead, samples, adv):
    lp = seq_logprob(model, lead, samples)
    return -(mx.stop_gradient(adv) * lp).mean()


scst_step = nn.value_and_grad(model, scst_loss)
print("stage 2: self-critical fine-tuning (objective near 0 by design)")
r_s_acc, r_g_acc, l_acc, n_acc = 0.0, 0.0, 0.0, 0
for step in range(1, RL_STEPS + 1):
    idx = rng.integers(0, len(train_rows), RL_BATCH)
    x = mx.array(train_rows[idx])
    lead, target = x[:, :LEAD], x[:, LEAD:]
    model.eval()
    samples = decode(model, lead, greedy=False, temp=1.0)
    greedy = decode(model, lead, greedy=True)
    model.train()
    r_s, r_g = reward(samples, target), reward(greedy, target)
    adv = r_s - r_g
    loss, grads = scst_step(model, lead, samples, adv)
    opt2.update(model, grads)
    mx.eval(model.parameters(), opt2.state, loss, r_s, r_g)
    r_s_acc += r_s.mean().item()
    r_g_acc += r_g.mean().item()
    l_acc += loss.item()
    n_acc += 1
    if step % 10 == 0:
        print(f"  scst step {step:4d}  lr {rl_sched(step - 1).item():.2e}  objective {l_acc / n_acc:+.4f}  "
              f"sample reward {r_s_acc / n_acc:.3f}  greedy reward {r_g_acc / n_acc:.3f}")
        r_s_acc, r_g_acc, l_acc, n_acc = 0.0, 0.0, 0.0, 0

em2, pos2 = exact_match(model, hold_rows)
print(f"final held-out exact-match {em2:.3f} (after stage 1: {em1:.3f}, nobody-moves baseline {same:.3f})")
print(f"final held-out per-dancer accuracy {pos2:.3f}")
print(f"total time {time.time() - t0:.1f}s")
