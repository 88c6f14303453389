"""Heliograph relay station: echo the flash symbol sent `lag` flashes earlier.

Each message opens with a lag order (1..4 flashes back); every later flash must be
answered with the symbol seen that many flashes before it. 6% of the logged answers
are misread by the receiving station, so the answer log has a noise floor.

Tiny causal decoder with rotary position encoding (nn.RoPE) and no learned positions.
Training runs in two stages (short messages, then longer ones); the learning rate
warms up from exactly 0 in each stage. Accuracy is also measured on messages far
longer than anything trained on, beside a chance baseline and a repeat-last baseline.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_SYM = 12                 # flash symbols 0..11
LAG0 = N_SYM               # lag order tokens 12..15 mean lag 1..4
VOCAB = N_SYM + 4
IGNORE = -1
MISREAD = 0.06
DIM, HEADS, LAYERS = 32, 2, 2


def make_messages(rng, n, length, misread=MISREAD):
    lag = rng.integers(1, 5, size=n)
    sym = rng.integers(0, N_SYM, size=(n, length - 1))
    tokens = np.concatenate([(LAG0 + lag - 1)[:, None], sym], axis=1)
    targets = np.full((n, length), IGNORE, dtype=np.int64)
    for i in range(n):
        k = lag[i]
        targets[i, 1 + k:] = sym[i, : length - 1 - k]
    if misread > 0:
        noisy = (rng.random(targets.shape) < misread) & (targets != IGNORE)
        targets[noisy] = rng.integers(0, N_SYM, size=int(noisy.sum()))
    return mx.array(tokens, dtype=mx.int32), mx.array(targets, dtype=mx.int32)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.rope = nn.RoPE(dim // heads)
        self.norm1 = nn.RMSNorm(dim)
        self.norm2 = nn.RMSNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        B, L, D = x.shape
        hd = D // self.heads
        q, k, v = mx.split(self.qkv(self.norm1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5, mask=mask)
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff(self.norm2(x))


class RelayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, N_SYM)

    def __call__(self, tokens):
        L = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def masked_ce(model, tokens, targets):
    logits = model(tokens)
    valid = targets != IGNORE
    ce = nn.losses.cross_entropy(logits, mx.maximum(targets, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


def accuracy(model, tokens, targets):
    pred = mx.argmax(model(tokens), axis=-1)
    valid = targets != IGNORE
    return ((pred == targets) & valid).sum().item() / valid.sum().item()


def repeat_last_accuracy(tokens, targets):
    prev = mx.concatenate([tokens[:, :1], tokens[:, :-1]], axis=1)
    valid = targets != IGNORE
    return ((prev == targets) & valid).sum().item() / valid.sum().item()


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    model = RelayNet()
    mx.eval(model.parameters())

    probes = {L: make_messages(rng, 48, L, misread=0.0) for L in (20, 32, 80)}
    print(f"[HELIO setup] params={sum(v.size for _, v in __import__('mlx.utils').utils.tree_flatten(model.parameters()))} "
          f"chance={1 / N_SYM:.3f} repeat_last@80={repeat_last_accuracy(*probes[80]):.3f} "
          f"answer_ceiling~{1 - MISREAD * (1 - 1 / N_SYM):.3f}")

    stages = [(1, 20, 200), (2, 32, 100)]
    loss_and_grad = nn.value_and_grad(model, masked_ce)
    t0 = time.time()
    for stage, length, steps in stages:
        warm = 40
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-4)],
            [warm],
        )
        opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
        running = []
        for step in range(1, steps + 1):
            lr_now = sched(opt.step).item()
            tokens, targets = make_messages(rng, 16, length)
            loss, grads = loss_and_grad(model, tokens, targets)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running.append(loss.item())
            if step == 1 or step % 40 == 0:
                acc = {L: accuracy(model, *probes[L]) for L in probes}
                print(f"[HELIO stage={stage} len={length} step={step:04d}] lr={lr_now:.2e} "
                      f"loss={np.mean(running):.3f} acc@20={acc[20]:.3f} acc@32={acc[32]:.3f} "
                      f"acc@80={acc[80]:.3f}")
                running = []

    held_t, held_y = make_messages(rng, 128, 32)
    print(f"[HELIO done] noisy_log_acc@32={accuracy(model, held_t, held_y):.3f} "
          f"clean_acc@80={accuracy(model, *probes[80]):.3f} secs={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
