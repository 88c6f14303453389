"""Ice-cream van chime melodies: next-note language model (MLX).

Each van plays one of 6 stock tunes (16-note phrases over a 12-note scale).
The driver's old music box adds an ornament on every 4th note: that note is
drawn uniformly from 3 neighbours, so it cannot be predicted.  The ideal
model therefore pays log(3) nats on one note in four (plus a little while it
identifies the tune from the first notes) and nothing elsewhere; the loss
settles on that floor and stays there.

Training: tiny causal transformer whose blocks run under activation
recomputation (nn.utils.checkpoint), 2 micro-batches accumulated per
optimizer step, Lion with linear warm-up from exactly 0 then constant lr,
a quiet stretch with no log lines, and a one-off memory comparison between
a recomputed and a plain backward pass.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB = 13  # 12 scale notes + start token
START = 12
PHRASE = 16
REPEATS = 2
SEQ = PHRASE * REPEATS


def make_tunes(rng, n_tunes=6):
    return rng.integers(0, 12, size=(n_tunes, PHRASE))


def play(tunes, n, rng):
    tune_ids = rng.integers(0, len(tunes), size=n)
    notes = np.tile(tunes[tune_ids], (1, REPEATS))
    orn = np.zeros_like(notes, dtype=bool)
    orn[:, 3::4] = True
    shift = rng.integers(-1, 2, size=notes.shape)
    notes = np.where(orn, (notes + shift) % 12, notes)
    seq = np.concatenate([np.full((n, 1), START), notes], axis=1)
    return seq[:, :-1].astype(np.int32), seq[:, 1:].astype(np.int32), orn


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.ff = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class ChimeLM(nn.Module):
    def __init__(self, dims=32, heads=2, n_blocks=2, recompute=True):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.blocks = [Block(dims, heads) for _ in range(n_blocks)]
        self.ln = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, VOCAB)
        self.recompute = recompute

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.tok(x) + self.pos(mx.arange(T))
        for blk in self.blocks:
            if self.recompute:
                h = nn.utils.checkpoint(blk)(h, mask)
            else:
                h = blk(h, mask)
        return self.head(self.ln(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def ideal_loss(orn):
    # ornament notes: log 3 each; the first phrase also needs the tune identified,
    # which the floor below ignores (it is the asymptote, not the first-epoch value)
    return float(orn.mean() * math.log(3))


def peak_mb_for_step(model, x, y):
    mx.clear_cache()
    mx.reset_peak_memory()
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    mx.eval(loss, grads)
    return mx.get_peak_memory() / 2**20


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tunes = make_tunes(rng)
    tr_x, tr_y, tr_orn = play(tunes, 6000, rng)
    va_x, va_y, va_orn = play(tunes, 300, rng)
    floor = ideal_loss(va_orn)
    uniform = math.log(12)

    model = ChimeLM()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

    warmup = 20
    steps = 140
    lr_sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warmup), lambda _: mx.array(3e-3)], [warmup]
    )
    opt = optim.Lion(learning_rate=lr_sched, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, loss_fn)

    micro = 2
    micro_bs = 32
    quiet = range(50, 100)

    print("chime-van melody LM")
    print(f"  params: {n_params}")
    print(f"  tunes: {len(tunes)}  train seqs: {len(tr_x)}  valid seqs: {len(va_x)}")
    print(f"  reference: uniform-note loss {uniform:.4f} nats | ornament floor {floor:.4f} nats")
    print(f"  schedule: lion, lr 0 -> 3e-3 over {warmup} steps then flat; {micro} micro-batches per step")

    # one-off memory comparison, same weights, recompute on vs off
    xb = mx.array(tr_x[:64])
    yb = mx.array(tr_y[:64])
    model.recompute = False
    plain_mb = peak_mb_for_step(model, xb, yb)
    model.recompute = True
    ckpt_mb = peak_mb_for_step(model, xb, yb)
    print(f"  backward peak memory: plain {plain_mb:.1f} MB | recomputed {ckpt_mb:.1f} MB")

    def valid():
        logits = model(mx.array(va_x))
        y = mx.array(va_y)
        ce = nn.losses.cross_entropy(logits, y)
        pred = mx.argmax(logits, axis=-1)
        plain_mask = mx.array(~va_orn)
        acc_plain = mx.sum((pred == y) * plain_mask) / mx.sum(plain_mask)
        return mx.mean(ce).item(), acc_plain.item()

    v0, a0 = valid()
    print(f"step 0:\n  lr: 0.0\n  valid_nll: {v0:.4f}\n  plain_note_acc: {a0:.3f}")

    order = rng.permutation(len(tr_x))
    cursor = 0
    for step in range(1, steps + 1):
        acc_grads = None
        acc_loss = 0.0
        for _ in range(micro):
            if cursor + micro_bs > len(order):
                order = rng.permutation(len(tr_x))
                cursor = 0
            idx = order[cursor : cursor + micro_bs]
            cursor += micro_bs
            loss, grads = grad_fn(model, mx.array(tr_x[idx]), mx.array(tr_y[idx]))
            acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
            acc_loss = acc_loss + loss
        acc_grads = tree_map(lambda g: g / micro, acc_grads)
        lr_used = lr_sched(opt.step).item()
        opt.update(model, acc_grads)
        mx.eval(model.parameters(), opt.state, acc_loss)

        if step in quiet:
            continue
        if step % 10 == 0 or step == 1:
            v, a = valid()
            print(
                f"step {step}:\n  lr: {lr_used:.2e}\n  train_nll: {acc_loss.item() / micro:.4f}\n"
                f"  valid_nll: {v:.4f}\n  gap_to_floor: {v - floor:+.4f}\n  plain_note_acc: {a:.3f}"
            )

    v, a = valid()
    print("final:")
    print(f"  valid_nll: {v:.4f}  (floor {floor:.4f}, uniform {uniform:.4f})")
    print(f"  plain_note_acc: {a:.3f}")


if __name__ == "__main__":
    main()
