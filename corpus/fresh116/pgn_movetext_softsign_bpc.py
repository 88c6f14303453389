# Character model of chess move text ("12. Nf3 Bb4+ 13. c3 O-O ...").
# Fixed random character embeddings (frozen on purpose), an MLP over the last
# 6 characters with a hand-written softsign whose backward is a custom VJP,
# compiled Adam step with linear warm-up from lr 0. Reports bits per character.
import math
import random
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CTX = 6
PIECES = ["", "", "", "N", "B", "R", "Q", "K"]
FILES, RANKS = "abcdefgh", "12345678"


def san_move(rng):
    p = rng.choice(PIECES)
    cap = "x" if rng.random() < 0.2 else ""
    if p == "" and cap:
        p = rng.choice(FILES)
    sq = rng.choice(FILES) + rng.choice(RANKS)
    if p == "K" and rng.random() < 0.3:
        return rng.choice(["O-O", "O-O-O"])
    return p + cap + sq + ("+" if rng.random() < 0.08 else "")


def movetext(rng, n_games):
    games = []
    for _ in range(n_games):
        moves = []
        for mv in range(1, rng.randint(8, 30)):
            moves.append(f"{mv}. {san_move(rng)} {san_move(rng)}")
        games.append(" ".join(moves) + " " + rng.choice(["1-0", "0-1", "1/2-1/2"]) + "\n")
    return "".join(games)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(x, cotangent, output):
    # single-input custom_function: primals and cotangent arrive as plain arrays
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


class CharMLP(nn.Module):
    def __init__(self, vocab, emb=12, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.hidden = nn.Linear(CTX * emb, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, ctx):
        e = self.embed(ctx).reshape(ctx.shape[0], -1)
        return self.out(softsign(self.hidden(e)))


def windows(ids, starts):
    idx = starts[:, None] + np.arange(CTX + 1)[None, :]
    w = ids[idx]
    return mx.array(w[:, :CTX]), mx.array(w[:, CTX])


def bits_per_char(model, ids, bs=2048):
    starts = np.arange(0, len(ids) - CTX - 1)
    nats = 0.0
    for i in range(0, len(starts), bs):
        x, y = windows(ids, starts[i:i + bs])
        nats += nn.losses.cross_entropy(model(x), y, reduction="sum").item()
    return nats / len(starts) / math.log(2)


def main():
    t0 = time.time()
    rng = random.Random(7)
    train_txt, val_txt = movetext(rng, 520), movetext(rng, 60)
    chars = sorted(set(train_txt + val_txt))
    stoi = {c: i for i, c in enumerate(chars)}
    tr = np.array([stoi[c] for c in train_txt], dtype=np.int32)
    va = np.array([stoi[c] for c in val_txt], dtype=np.int32)
    V = len(chars)
    print(f"corpus: {len(tr)} train chars, {len(va)} val chars, vocab {V}, "
          f"uniform = {math.log2(V):.3f} bits/char")

    # custom VJP check against MLX's own derivative of the same formula
    z = mx.linspace(-4, 4, 41)
    g_custom = mx.grad(lambda t: softsign(t).sum())(z)
    g_auto = mx.grad(lambda t: (t / (1 + mx.abs(t))).sum())(z)
    print(f"softsign vjp check: max |custom - autodiff| = {mx.max(mx.abs(g_custom - g_auto)).item():.2e}")

    mx.random.seed(3)
    model = CharMLP(V)
    model.embed.freeze()          # fixed random character code book
    mx.eval(model.parameters())
    emb0 = np.array(model.embed.weight)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params: {n_train} trainable of {n_all} (embedding table frozen)")

    steps, bs, warm = 3000, 128, 300
    lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                               optim.cosine_decay(3e-3, steps - warm, end=2e-4)], [warm])
    opt = optim.Adam(learning_rate=lr)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    g_x, g_y = windows(tr, np.arange(bs))
    _, g0 = vg(model, g_x, g_y)
    print("first-step |grad| per trainable leaf: " +
          ", ".join(f"{k}={mx.max(mx.abs(v)).item():.2e}" for k, v in tree_flatten(g0)))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    np_rng = np.random.default_rng(11)
    ema, beta = 0.0, 0.98
    for step in range(1, steps + 1):
        starts = np_rng.integers(0, len(tr) - CTX - 1, size=bs)
        x, y = windows(tr, starts)
        loss = train_step(x, y)
        mx.eval(state, loss)
        ema = beta * ema + (1 - beta) * loss.item() / math.log(2)
        if step == 1 or step % 500 == 0:
            ema_hat = ema / (1 - beta ** step)
            print(f"step {step}: lr {opt.learning_rate.item():.2e} | train {ema_hat:.3f} bpc (ema) "
                  f"| val {bits_per_char(model, va):.3f} bpc | {time.time() - t0:.1f}s")

    drift = float(np.abs(np.array(model.embed.weight) - emb0).max())
    print(f"embedding drift (frozen): {drift:.1e}")
    # greedy sample
    ctx = [stoi[c] for c in "1. e4 "]
    for _ in range(60):
        nxt = int(mx.argmax(model(mx.array([ctx[-CTX:]])), axis=1).item())
        ctx.append(nxt)
    print("sample:", repr("".join(chars[i] for i in ctx)))


if __name__ == "__main__":
    main()
