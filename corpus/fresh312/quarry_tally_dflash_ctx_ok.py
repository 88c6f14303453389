"""Block-draft training against a frozen target LM (DFlash-style), tiny CPU version.

Stage 1 trains a small causal "target" LM on quarry tally sheets (each sheet counts
up with its own stride, modulo the vocabulary). Stage 2 freezes the target, captures
its hidden states and trains a block draft: given the pending token plus MASK slots,
the draft proposes the next BLOCK tokens while attending to the target's hidden states.
Finally the draft is scored the way the speculative decoder would use it.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 32
MASK_ID = VOCAB  # extra id for the draft's embedding table
BOS_ID = VOCAB
SEQ_LEN = 16
BLOCK = 4
HID = 32
BATCH = 32
TARGET_STEPS = 200
DRAFT_STEPS = 600
LOG_EVERY = 100

rng = np.random.default_rng(7)
mx.random.seed(7)


def tally_batch(n):
    start = rng.integers(0, VOCAB, size=(n, 1))
    stride = rng.integers(1, 8, size=(n, 1))
    t = np.arange(SEQ_LEN)[None, :]
    return mx.array(((start + stride * t) % VOCAB).astype(np.int32))


class TargetLM(nn.Module):
    """Causal bigram-context LM: reads tokens t-1 and t, predicts t+1."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, 24)
        self.l1 = nn.Linear(48, HID)
        self.l2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, VOCAB)

    def hidden(self, ids):
        prev = mx.concatenate(
            [mx.full((ids.shape[0], 1), BOS_ID, dtype=ids.dtype), ids[:, :-1]], axis=1
        )
        x = mx.concatenate([self.embed(prev), self.embed(ids)], axis=-1)
        h = nn.gelu(self.l1(x))
        return nn.gelu(self.l2(h))

    def __call__(self, ids):
        return self.head(self.hidden(ids))


class BlockDraft(nn.Module):
    """Block drafter: the [pending, MASK...] block attends over projected target
    hidden states (with a learned distance-to-block embedding) and over itself."""

    def __init__(self, dim=32, max_dist=16):
        super().__init__()
        self.max_dist = max_dist
        self.tok = nn.Embedding(VOCAB + 1, dim)
        self.slot = nn.Embedding(BLOCK + 1, dim)
        self.dist = nn.Embedding(max_dist, dim)
        self.ctx_proj = nn.Linear(HID, dim)
        self.attn = nn.MultiHeadAttention(dim, 4)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.lm_head = nn.Linear(dim, VOCAB)

    def __call__(self, block_input, target_hidden, logits_start=1):
        B, S = block_input.shape
        n_ctx = target_hidden.shape[1]
        q = self.tok(block_input) + self.slot(mx.arange(S))[None]
        d = mx.minimum(mx.arange(n_ctx)[::-1], self.max_dist - 1)
        ctx = self.ctx_proj(target_hidden) + self.dist(d)[None]
        kv = mx.concatenate([ctx, q], axis=1)
        h = q + self.attn(self.norm1(q), self.norm1(kv), self.norm1(kv))
        h = h + self.mlp(self.norm2(h))
        return self.lm_head(h[:, logits_start:, :])


def train_target():
    target = TargetLM()
    opt = optim.Adam(learning_rate=1e-2)

    def loss_fn(m, ids):
        logits = m(ids[:, :-1])
        return nn.losses.cross_entropy(logits[:, 1:], ids[:, 2:], reduction="mean")

    lg = nn.value_and_grad(target, loss_fn)
    for step in range(1, TARGET_STEPS + 1):
        loss, grads = lg(target, tally_batch(BATCH))
        opt.update(target, grads)
        mx.eval(target.parameters(), opt.state, loss)
        if step % LOG_EVERY == 0 or step == 1:
            print(f"[target] step {step:4d}/{TARGET_STEPS}  loss={loss.item():.4f}")
    ids = tally_batch(512)
    pred = mx.argmax(target(ids[:, :-1]), axis=-1)
    acc = mx.mean(pred[:, 1:] == ids[:, 2:]).item()
    print(f"[target] next-token accuracy (t>=1): {acc * 100:.1f}%")
    target.freeze()
    return target


def draft_loss(draft, block_input, target_hidden, targets):
    logits = draft(block_input, target_hidden, logits_start=1)
    return nn.losses.cross_entropy(logits, targets, reduction="mean")


def make_block(input_ids, p):
    pending = input_ids[:, p : p + 1]
    mask_block = mx.full((input_ids.shape[0], BLOCK), MASK_ID, dtype=input_ids.dtype)
    return mx.concatenate([pending, mask_block], axis=1)


def train_draft(target):
    draft = BlockDraft()
    optimizer = optim.AdamW(learning_rate=4e-3, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(draft, draft_loss)
    losses = []
    for real_step in range(1, DRAFT_STEPS + 1):
        input_ids = tally_batch(BATCH)
        p = int(rng.integers(BLOCK, SEQ_LEN - BLOCK))
        target_hidden_full = mx.stop_gradient(target.hidden(input_ids))
        block_input = make_block(input_ids, p)
        targets = input_ids[:, p + 1 : p + 1 + BLOCK]
        target_hidden = target_hidden_full[:, :p, :]
        loss, grads = loss_and_grad(draft, block_input, target_hidden, targets)
        optimizer.update(draft, grads)
        mx.eval(loss, draft.parameters(), optimizer.state)
        losses.append(loss.item())
        if real_step % LOG_EVERY == 0 or real_step == 1:
            avg = sum(losses[-LOG_EVERY:]) / min(LOG_EVERY, len(losses))
            print(f"[draft] step {real_step:4d}/{DRAFT_STEPS}  loss={losses[-1]:.4f}  avg({LOG_EVERY})={avg:.4f}")
    return draft


def speculative_score(target, draft, n=512):
    """Decoder-side use: the target has processed tokens 0..L-1, token L was just
    sampled (pending), and the draft proposes L+1..L+BLOCK from that cache."""
    ids = tally_batch(n)
    L = SEQ_LEN - BLOCK - 1
    ctx_hidden = target.hidden(ids[:, :L])
    proposals = mx.argmax(draft(make_block(ids, L), ctx_hidden, logits_start=1), axis=-1)
    truth = ids[:, L + 1 : L + 1 + BLOCK]
    hit = (proposals == truth).astype(mx.int32)
    accepted = mx.cumprod(hit, axis=1).sum(axis=1)
    per_pos = mx.mean(hit.astype(mx.float32), axis=0)
    return mx.mean(accepted.astype(mx.float32)).item(), [round(v * 100, 1) for v in per_pos.tolist()]


if __name__ == "__main__":
    t0 = time.time()
    target = train_target()
    draft = train_draft(target)
    mean_acc, per_pos = speculative_score(target, draft)
    print(f"draft per-position match %: {per_pos}")
    print(f"mean accepted tokens per block: {mean_acc:.2f} / {BLOCK}")
    print(f"done in {time.time() - t0:.1f}s")
