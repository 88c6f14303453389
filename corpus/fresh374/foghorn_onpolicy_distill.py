"""Foghorn signal-book distillation: a small causal transformer (the 'student')
learns the signal patterns of an old station's code book (the 'teacher', a
frozen second-order table over 9 blast symbols plus an end-of-signal token).

On-policy distillation: at every step the student WRITES its own signals
(temperature-1 sampling with a per-layer key/value cache, stopping at the
end token or at 16 symbols), then the per-position reverse KL
    sum_v q(v | prefix) * (log q(v | prefix) - log p(v | prefix))
between student q and teacher p is taken along the student's own prefixes.
AdamW with lr warmed up from exactly 0, then cosine decay.

Columns: rkl (exact, nats/symbol, -> 0), logratio (one-sample estimate of
the same quantity, noisy, can dip below 0), ce_teacher (student cross-entropy
on signals drawn from the teacher; its floor is the teacher's own entropy
rate, not 0), len (mean signal length written by the student vs teacher).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SYMBOLS = 9
STOP = SYMBOLS          # id 9
BOS = SYMBOLS + 1       # id 10, only ever an input
VOCAB_OUT = SYMBOLS + 1
VOCAB_IN = SYMBOLS + 2
MAX_LEN = 16

rng = np.random.default_rng(3)
mx.random.seed(3)

# ---------------- teacher: frozen second-order code book ----------------
ctx_logits = rng.normal(0.0, 1.0, size=(VOCAB_IN, VOCAB_IN, VOCAB_OUT))
for a in range(VOCAB_IN):
    for b in range(VOCAB_IN):
        favs = rng.choice(SYMBOLS, size=2, replace=False)
        ctx_logits[a, b, favs] += 2.5
ctx_logits[:, :, STOP] = 0.6
ctx_logits[BOS, :, STOP] = -8.0   # no empty or 1-symbol signals
ctx_logits[:, BOS, STOP] = -8.0
T_LOGP = ctx_logits - np.log(np.exp(ctx_logits).sum(-1, keepdims=True))
T_LOGP_MX = mx.array(T_LOGP.astype(np.float32))


def teacher_samples(n):
    seqs = []
    for _ in range(n):
        a = b = BOS
        s = []
        for _ in range(MAX_LEN):
            p = np.exp(T_LOGP[a, b])
            t = int(rng.choice(VOCAB_OUT, p=p / p.sum()))
            s.append(t)
            if t == STOP:
                break
            a, b = b, t
        seqs.append(s)
    return seqs


# ---------------- student ----------------
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, cache=None):
        B, L, D = x.shape
        H = self.heads
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q = q.reshape(B, L, H, D // H).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, H, D // H).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, H, D // H).transpose(0, 2, 1, 3)
        if cache is not None and cache[0] is not None:
            k = mx.concatenate([cache[0], k], axis=2)
            v = mx.concatenate([cache[1], v], axis=2)
        S = k.shape[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(D // H)
        # causal mask aligned to the end of the key axis
        qpos = mx.arange(S - L, S)[:, None]
        kpos = mx.arange(S)[None, :]
        scores = mx.where(kpos <= qpos, scores, -1e9)
        att = mx.softmax(scores, axis=-1) @ v
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, L, D))
        x = x + self.ff(self.ln2(x))
        return x, (k, v)


class Student(nn.Module):
    def __init__(self, d=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB_IN, d)
        self.pos = nn.Embedding(MAX_LEN + 1, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB_OUT)

    def __call__(self, tokens, caches=None, offset=0):
        L = tokens.shape[1]
        x = self.tok(tokens) + self.pos(mx.arange(offset, offset + L))
        new = []
        for i, blk in enumerate(self.blocks):
            x, c = blk(x, None if caches is None else caches[i])
            new.append(c)
        return self.head(self.ln(x)), new


def student_write(model, n, temperature=1.0):
    """Sample n signals with the key/value cache. Returns padded ids, mask."""
    caches = [(None, None) for _ in model.blocks]
    tok = mx.full((n, 1), BOS, dtype=mx.int32)
    out = np.full((n, MAX_LEN), STOP, dtype=np.int32)
    alive = np.ones(n, dtype=bool)
    mask = np.zeros((n, MAX_LEN), dtype=np.float32)
    for t in range(MAX_LEN):
        logits, caches = model(tok, caches, offset=t)
        nxt = mx.random.categorical(logits[:, -1, :] / temperature, axis=-1)
        mx.eval(nxt, caches)
        nxt_np = np.array(nxt)
        mask[alive, t] = 1.0
        out[alive, t] = nxt_np[alive]
        alive &= nxt_np != STOP
        if not alive.any():
            break
        tok = nxt[:, None].astype(mx.int32)
    return out, mask


def with_bos(seqs):
    B = seqs.shape[0]
    return np.concatenate([np.full((B, 1), BOS, dtype=np.int32), seqs[:, :-1]], axis=1)


def teacher_logp_for(inputs):
    """inputs: (B, T) ids starting with BOS; teacher log-probs (B, T, V)."""
    prev1 = inputs
    prev2 = np.concatenate([np.full((inputs.shape[0], 1), BOS, dtype=np.int32), inputs[:, :-1]], axis=1)
    return T_LOGP_MX[mx.array(prev2), mx.array(prev1)]


def rkl_loss(model, inputs, targets, mask, t_logp):
    logits, _ = model(inputs)
    logq = nn.log_softmax(logits, axis=-1)
    rkl_pos = (mx.exp(logq) * (logq - t_logp)).sum(-1)
    picked = mx.take_along_axis(logq - t_logp, targets[..., None], axis=-1)[..., 0]
    n = mask.sum()
    return (rkl_pos * mask).sum() / n, mx.stop_gradient((picked * mask).sum() / n)


def pad(seqs):
    arr = np.full((len(seqs), MAX_LEN), STOP, dtype=np.int32)
    m = np.zeros((len(seqs), MAX_LEN), dtype=np.float32)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = s
        m[i, : len(s)] = 1.0
    return arr, m


def main():
    t0 = time.time()
    model = Student()
    mx.eval(model.parameters())

    held = teacher_samples(400)
    h_seq, h_mask = pad(held)
    h_in = with_bos(h_seq)
    h_tlp = teacher_logp_for(h_in)
    t_tok = np.take_along_axis(np.array(h_tlp), h_seq[..., None], axis=-1)[..., 0]
    floor = float(-(t_tok * h_mask).sum() / h_mask.sum())
    t_len = float(h_mask.sum(1).mean())
    print(f"[book] 9 blast symbols + end token, signals up to {MAX_LEN}; teacher entropy rate {floor:.3f} nats/symbol "
          f"(floor for ce_teacher), teacher mean length {t_len:.1f}")

    h_in_mx, h_seq_mx, h_mask_mx = mx.array(h_in), mx.array(h_seq), mx.array(h_mask)

    def ce_teacher():
        logits, _ = model(h_in_mx)
        ce = nn.losses.cross_entropy(logits, h_seq_mx, reduction="none")
        return ((ce * h_mask_mx).sum() / h_mask_mx.sum()).item()

    steps, warm = 260, 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, lambda m, a, b, c, d: rkl_loss(m, a, b, c, d)[0])

    print(f"{'step':>5} {'lr':>8} {'rkl':>7} {'logratio':>9} {'ce_teacher':>10} {'len':>5} {'sec':>6}")
    print(f"{0:>5} {0.0:>8.1e} {'-':>7} {'-':>9} {ce_teacher():>10.3f} {'-':>5} {time.time() - t0:>6.1f}")
    for step in range(1, steps + 1):
        seqs, mask = student_write(model, 32)
        inputs = with_bos(seqs)
        t_lp = teacher_logp_for(inputs)
        x, y, m = mx.array(inputs), mx.array(seqs), mx.array(mask)
        lr_now = float(opt.learning_rate)
        rkl, grads = grad_fn(model, x, y, m, t_lp)
        _, lr_est = rkl_loss(model, x, y, m, t_lp)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, rkl, lr_est)
        if step % 20 == 0 or step == 1:
            print(f"{step:>5} {lr_now:>8.1e} {rkl.item():>7.3f} {lr_est.item():>+9.3f} {ce_teacher():>10.3f} "
                  f"{mask.sum(1).mean():>5.1f} {time.time() - t0:>6.1f}")

    # cached writing vs full recompute on the same prefixes
    seqs, mask = student_write(model, 16)
    inputs = with_bos(seqs)
    full, _ = model(mx.array(inputs))
    caches = [(None, None) for _ in model.blocks]
    diffs = []
    for t in range(MAX_LEN):
        step_logits, caches = model(mx.array(inputs[:, t: t + 1]), caches, offset=t)
        diffs.append(mx.abs(step_logits[:, 0] - full[:, t]).max().item())
    print(f"[check] cached vs full-recompute logits: max abs diff {max(diffs):.2e}")
    print(f"[done] ce_teacher ends {ce_teacher():.3f} vs floor {floor:.3f} nats/symbol; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
