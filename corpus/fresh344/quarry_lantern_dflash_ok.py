"""Block draft (DFlash-style) for a frozen target, trained on self-generated data.

The target is a tiny frozen LM.  Prompts come from a mixed prompt stream
(short chat turns and long document questions); the target answers each one
greedily, and the draft learns to fill a block of MASK positions after a
pending token, conditioned on the target's hidden states.
"""

import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

PAD, EOS, MASK, QMARK, ANS = 0, 1, 2, 3, 4
VOCAB = 48
DIM = 64
BLOCK = 4
BATCH = 8
STEPS = 300
LR = 3e-3
WARMUP = 10
MAX_NEW = 20
N_PROMPTS = 384

random.seed(0)
np.random.seed(0)
mx.random.seed(0)


# ---------------------------------------------------------------- target model
class TinyTarget(nn.Module):
    """Frozen next-token model: hidden_t = e(x_t) + 0.3 * mean(e(x_<t))."""

    def __init__(self, succ):
        super().__init__()
        emb = np.random.normal(size=(VOCAB, DIM)).astype(np.float32)
        inv = np.argsort(succ)
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.embed_tokens.weight = mx.array(emb)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)
        self.lm_head.weight = mx.array(emb[inv])

    def hidden(self, ids):
        e = self.embed_tokens(ids)
        csum = mx.cumsum(e, axis=1)
        pos = mx.arange(1, ids.shape[1] + 1, dtype=mx.float32)[None, :, None]
        prev_mean = (csum - e) / mx.maximum(pos - 1, 1)
        return e + 0.3 * prev_mean

    def __call__(self, ids):
        h = self.hidden(ids)
        return h, self.lm_head(h)


def build_successor():
    succ = np.arange(VOCAB)
    # short cycle: QMARK -> ANS -> EOS -> QMARK
    succ[QMARK], succ[ANS], succ[EOS] = ANS, EOS, QMARK
    succ[PAD], succ[MASK] = MASK, PAD
    body = list(range(5, VOCAB))
    order = np.random.permutation(body)
    for a, b in zip(order, np.roll(order, -1)):
        succ[a] = b
    return succ


# -------------------------------------------------------------- draft model
class BlockDraft(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(BLOCK + 1, DIM)
        self.ctx = nn.Linear(DIM, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.norm1 = nn.RMSNorm(DIM)
        self.norm2 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, block_input, target_hidden):
        c = self.ctx(target_hidden[:, -1:, :])
        x = self.tok(block_input) + self.pos(mx.arange(block_input.shape[1])) + c
        y = self.norm1(x)
        x = x + self.attn(y, y, y)
        x = x + self.mlp(self.norm2(x))
        return self.out(x[:, 1:, :])


# ------------------------------------------------------------ self-generation
def make_prompts(n):
    prompts = []
    for _ in range(n):
        if random.random() < 0.4:
            plen = random.randint(4, 12)
            body = [random.randint(5, VOCAB - 1) for _ in range(plen)]
        else:
            plen = random.randint(22, 30)
            body = [random.randint(5, VOCAB - 1) for _ in range(plen - 1)] + [QMARK]
        prompts.append(body)
    return prompts


def self_generate(target, prompts, max_new):
    out = []
    for p in prompts:
        seq = list(p)
        for _ in range(max_new):
            _, logits = target(mx.array([seq]))
            nxt = int(mx.argmax(logits[0, -1]).item())
            seq.append(nxt)
            if nxt == EOS:
                break
        out.append((seq, len(p)))
    return out


def cycle_training_batches(sequences, batch_size, *, pad_token_id, block_size, seed=0):
    usable = [
        (s, plen)
        for s, plen in sequences
        if len(s) >= 2 * block_size + 1 and len(s) >= plen + block_size + 1
    ]
    if not usable:
        raise ValueError("no usable self-generated sequences")
    usable.sort(key=lambda sp: len(sp[0]))
    buckets = []
    for i in range(0, len(usable), batch_size):
        rows = usable[i : i + batch_size]
        orig = len(rows)
        while len(rows) < batch_size:
            rows.append(rows[len(rows) % orig])
        m = max(len(s) for s, _ in rows)
        padded = [s + [pad_token_id] * (m - len(s)) for s, _ in rows]
        buckets.append((padded, max(plen for _, plen in rows)))
    rng = random.Random(seed)
    while True:
        rng.shuffle(buckets)
        for padded, pivot_lo in buckets:
            yield mx.array(padded), pivot_lo


def select_pivot(input_ids, pad_token_id, block_size, min_pivot=0):
    seq_len = input_ids.shape[1]
    not_pad_rev = input_ids[:, ::-1] != pad_token_id
    has_real = not_pad_rev.any(axis=1)
    first_real_rev = not_pad_rev.argmax(axis=1).astype(mx.int32)
    trailing = mx.where(has_real, first_real_rev, mx.array(seq_len, dtype=mx.int32))
    min_real = int((seq_len - trailing).min().item())
    lo = max(block_size, min_pivot)
    hi = min_real - block_size - 1
    if hi < lo:
        return None
    return random.randint(lo, hi)


def cosine_lr(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


# ------------------------------------------------------------------ evaluation
def acceptance(draft, target, seqs, trials=200):
    rng = random.Random(123)
    acc = 0.0
    for _ in range(trials):
        s, plen = seqs[rng.randrange(len(seqs))]
        p = rng.randint(plen, len(s) - BLOCK - 1)
        ids = mx.array([s])
        h, _ = target(ids)
        block = mx.array([[s[p]] + [MASK] * BLOCK])
        pred = mx.argmax(draft(block, h[:, :p, :]), axis=-1)[0].tolist()
        n = 0
        for a, b in zip(pred, s[p + 1 : p + 1 + BLOCK]):
            if a != b:
                break
            n += 1
        acc += n
    return acc / trials


def main():
    t0 = time.time()
    succ = build_successor()
    target = TinyTarget(succ)
    target.freeze()

    prompts = make_prompts(N_PROMPTS)
    seqs = self_generate(target, prompts, MAX_NEW)
    print(f"self-generated {len(seqs)} sequences, "
          f"lengths {min(len(s) for s, _ in seqs)}-{max(len(s) for s, _ in seqs)}")

    held_prompts = [p for p in make_prompts(64) if p[-1] != QMARK]
    held = self_generate(target, held_prompts, MAX_NEW)

    draft = BlockDraft()
    optimizer = optim.AdamW(learning_rate=LR, weight_decay=0.01)
    n_params = sum(v.size for _, v in tree_flatten(draft.parameters()))
    print(f"draft params: {n_params}  block={BLOCK}  batch={BATCH}  steps={STEPS}")
    print(f"acceptance before training: {acceptance(draft, target, held):.3f} tokens/block")

    def loss_fn(model, block_input, ctx, targets):
        logits = model(block_input, ctx)
        return nn.losses.cross_entropy(logits, targets, reduction="mean")

    loss_and_grad = nn.value_and_grad(draft, loss_fn)

    batches = cycle_training_batches(seqs, BATCH, pad_token_id=PAD, block_size=BLOCK)
    losses = []
    real_step = 0
    consecutive_skips = 0
    max_consecutive_skips = min(STEPS * 2 + 50, 500)
    mask_block = mx.full((BATCH, BLOCK), MASK, dtype=mx.int32)
    for input_ids, pivot_lo in batches:
        if real_step >= STEPS:
            break
        if consecutive_skips >= max_consecutive_skips:
            print(f"stopped: {consecutive_skips} consecutive batches without a usable "
                  f"window ({real_step}/{STEPS} steps)")
            break
        optimizer.learning_rate = cosine_lr(real_step, STEPS, LR, WARMUP)
        p = select_pivot(input_ids, PAD, BLOCK, min_pivot=pivot_lo)
        if p is None:
            consecutive_skips += 1
            continue
        consecutive_skips = 0
        h, _ = target(input_ids)
        h = mx.stop_gradient(h)
        pending = input_ids[:, p : p + 1]
        block_input = mx.concatenate([pending, mask_block], axis=1)
        targets = input_ids[:, p + 1 : p + 1 + BLOCK]
        loss, grads = loss_and_grad(draft, block_input, h[:, :p, :], targets)
        optimizer.update(draft, grads)
        mx.eval(loss, draft.parameters(), optimizer.state)
        losses.append(loss.item())
        real_step += 1
        if real_step == 1 or real_step % 30 == 0:
            avg = sum(losses[-30:]) / len(losses[-30:])
            print(f"step {real_step:4d}/{STEPS}  loss={losses[-1]:.4f}  avg(30)={avg:.4f}  "
                  f"lr={optimizer.learning_rate.item():.2e}")

    if real_step == 0:
        print("no gradient steps completed; the draft keeps its initial weights")
    acc = acceptance(draft, target, held)
    print(f"acceptance after training: {acc:.3f} tokens/block (max {BLOCK})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
