"""Bird-ringing ledger: a tiny causal transformer learns to write the ring
number back to front after a separator.  Stage 1 models whole ledger lines,
stage 2 fine-tunes on the answer part only (prompt tokens carry no loss).
Batches are right-padded with id 0.  Output: RFC5424-style syslog lines."""
import math
import time
import datetime

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PAD, SEP, EOS = 0, 1, 2
VOCAB = 13           # 3..12 are the digits 0..9
MAXLEN = 12
rng = np.random.default_rng(7)
mx.random.seed(7)
HOST = "ringing-hut"


def log(msgid, **kv):
    ts = datetime.datetime(2026, 5, 1, 6, 0, 0) + datetime.timedelta(seconds=time.perf_counter() - T0)
    sd = " ".join(f'{k}="{v}"' for k, v in kv.items())
    print(f"<134>1 {ts.isoformat()}Z {HOST} ledger - {msgid} [m {sd}]")


def make_rows(n):
    rows, plen = [], []
    for _ in range(n):
        k = int(rng.integers(3, 6))
        digits = list(rng.integers(0, 10, size=k) + 3)
        seq = digits + [SEP] + digits[::-1] + [EOS]
        rows.append(seq)
        plen.append(k + 1)          # prompt incl. separator
    return rows, plen


def pad_batch(rows, plen):
    L = max(len(r) for r in rows)
    arr = np.full((len(rows), L), PAD, dtype=np.int32)
    for i, r in enumerate(rows):
        arr[i, : len(r)] = r
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    return mx.array(arr), mx.array(np.array(plen, dtype=np.int32)), mx.array(lengths)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, h)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        y = self.n1(x)
        x = x + self.att(y, y, y, mask=mask)
        return x + self.ff(self.n2(x))


class LedgerLM(nn.Module):
    def __init__(self, d=32, h=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, ids):
        B, T = ids.shape
        x = self.tok(ids) + self.pos(mx.arange(T))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        keypad = mx.where(ids == PAD, -1e9, 0.0)[:, None, None, :]
        mask = causal[None, None] + keypad
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def seq_loss(model, ids, plen, lengths, answer_only):
    inputs, targets = ids[:, :-1], ids[:, 1:]
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    pos = mx.arange(1, targets.shape[1] + 1)[None, :]    # index of target in the row
    valid = pos < lengths[:, None]
    if answer_only:
        valid = mx.logical_and(valid, pos >= plen[:, None])
    valid = valid.astype(mx.float32)
    return (ce * valid).sum() / valid.sum()


def greedy_exact(model, rows, plen):
    hits = 0
    prompts = [r[:p] for r, p in zip(rows, plen)]
    answers = [r[p:] for r, p in zip(rows, plen)]
    cur = [list(p) for p in prompts]
    for _ in range(6):
        L = max(len(c) for c in cur)
        arr = np.full((len(cur), L), PAD, dtype=np.int32)
        for i, c in enumerate(cur):
            arr[i, : len(c)] = c
        logits = model(mx.array(arr))
        last = np.array([len(c) - 1 for c in cur])
        nxt = np.array(mx.argmax(logits, axis=-1))[np.arange(len(cur)), last]
        for i in range(len(cur)):
            if len(cur[i]) < MAXLEN and (len(cur[i]) == len(prompts[i]) or cur[i][-1] != EOS):
                cur[i].append(int(nxt[i]))
    for c, p, a in zip(cur, prompts, answers):
        out = c[len(p):]
        if EOS in out:
            out = out[: out.index(EOS) + 1]
        hits += int(out == a)
    return 100.0 * hits / len(cur)


def copy_baseline(rows, plen):
    # writing the number in its original order instead of reversed
    hits = sum(int(r[: p - 1] == r[p:-1]) for r, p in zip(rows, plen))
    return 100.0 * hits / len(rows)


def run_stage(model, name, steps, peak, answer_only, val):
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, seq_loss)
    vids, vplen, vlen = val
    for step in range(1, steps + 1):
        rows, plen = make_rows(32)
        ids, p, l = pad_batch(rows, plen)
        lr_now = float(sched(step - 1))
        loss, grads = loss_and_grad(model, ids, p, l, answer_only)
        if step == 1:
            gmax = max(float(mx.abs(g).max()) for _, g in tree_flatten(grads))
            log("AUDIT", stage=name, lr=f"{lr_now:.6f}", grad_absmax=f"{gmax:.4f}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 25 == 0 or step == 1:
            vloss = seq_loss(model, vids, vplen, vlen, answer_only)
            log("STEP", stage=name, step=step, lr=f"{lr_now:.6f}",
                train_nats=f"{float(loss):.4f}", val_nats=f"{float(vloss):.4f}")


T0 = time.perf_counter()
model = LedgerLM()
mx.eval(model.parameters())
vrows, vplen_list = make_rows(256)
val = pad_batch(vrows, vplen_list)
log("START", params=sum(v.size for _, v in tree_flatten(model.parameters())),
    digit_floor_nats=f"{math.log(10):.4f}")
run_stage(model, "ledger", 150, 3e-3, False, val)
log("EVAL", stage="ledger", exact_pct=f"{greedy_exact(model, vrows[:128], vplen_list[:128]):.1f}",
    same_order_baseline_pct=f"{copy_baseline(vrows[:128], vplen_list[:128]):.1f}")
run_stage(model, "answer", 150, 2e-3, True, val)
log("EVAL", stage="answer", exact_pct=f"{greedy_exact(model, vrows[:128], vplen_list[:128]):.1f}",
    same_order_baseline_pct=f"{copy_baseline(vrows[:128], vplen_list[:128]):.1f}")
log("DONE", seconds=f"{time.perf_counter() - T0:.1f}")
