"""Next-move language model over synthetic 9x9 Go game records.

Games are written as a flat token stream (81 board points, pass, end-of-game)
and packed end to end; windows are cut from the stream without regard to game
boundaries.  A small causal transformer is pretrained from scratch in two
sessions: the first one stops at a checkpoint, the second one starts a fresh
process-like setup (new model, new optimizer), loads the checkpoint and goes on.
Reports are written as SGF-style node lines.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

PASS, EOG = 81, 82
VOCAB = 83
CTX = 32
MICRO = 8
ACCUM = 2
SESSION_STEPS = 100
TOTAL_STEPS = 2 * SESSION_STEPS
WARMUP = 20
PEAK_LR = 3e-3


def coord(p):
    cols = "abcdefghi"
    return cols[p % 9] + cols[p // 9]


def neighbours(p):
    r, c = divmod(p, 9)
    out = []
    if r > 0:
        out.append(p - 9)
    if r < 8:
        out.append(p + 9)
    if c > 0:
        out.append(p - 1)
    if c < 8:
        out.append(p + 1)
    return out


def make_game(rng):
    occupied = set()
    moves = []
    n = int(rng.integers(20, 51))
    openings = [20, 24, 56, 60, 40]
    for i in range(n):
        empty = [q for q in range(81) if q not in occupied]
        u = rng.random()
        if i < 2:
            cand = [q for q in openings if q not in occupied]
        elif u < 0.55:
            cand = [q for q in neighbours(moves[-1]) if q not in occupied]
        elif u < 0.70:
            cand = [q for q in neighbours(moves[-2]) if q not in occupied]
        else:
            cand = empty
        if not cand:
            cand = empty
        m = int(cand[int(rng.integers(len(cand)))])
        occupied.add(m)
        moves.append(m)
    if rng.random() < 0.5:
        moves += [PASS, PASS]
    return moves + [EOG]


def make_stream(n_games, seed):
    rng = np.random.default_rng(seed)
    toks = []
    for _ in range(n_games):
        toks += make_game(rng)
    return np.array(toks, dtype=np.int32)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // heads)
        self.n2 = nn.RMSNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        B, T, D = x.shape
        h = self.n1(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        q = q.reshape(B, T, self.heads, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, self.heads, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, self.heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(D // self.heads), mask=mask
        )
        x = x + self.proj(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.down(nn.gelu(self.up(self.n2(x))))


class MoveLM(nn.Module):
    def __init__(self, vocab=VOCAB, d=48, heads=4, depth=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        future = mx.triu(mx.ones((T, T), dtype=mx.bool_), k=1)
        mask = mx.where(future, mx.array(-1e9, mx.float32), mx.array(0.0, mx.float32))
        x = self.embed(idx)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def windows(stream, starts):
    idx = starts[:, None] + np.arange(CTX + 1)[None, :]
    chunk = stream[idx]
    return mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])


def evaluate(model, stream):
    starts = np.arange(0, len(stream) - CTX - 1, CTX)
    tot, n = 0.0, 0
    for i in range(0, len(starts), 64):
        x, y = windows(stream, starts[i : i + 64])
        l = nn.losses.cross_entropy(model(x), y, reduction="sum")
        tot += l.item()
        n += y.size
    return tot / n


def make_optimizer():
    sched = optim.join_schedules(
        [
            optim.linear_schedule(0.0, PEAK_LR, WARMUP),
            optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4),
        ],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.05), sched


def sgf(**kv):
    return ";" + "".join(f"{k}[{v}]" for k, v in kv.items())


def run_session(model, opt, sched, train, val, first_step, last_step, rng, t0, uni_ppl):
    lvg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(first_step, last_step + 1):
        lr_used = sched(step - 1).item()
        acc = None
        lsum = 0.0
        for _ in range(ACCUM):
            starts = rng.integers(0, len(train) - CTX - 1, size=MICRO)
            x, y = windows(train, starts)
            l, g = lvg(model, x, y)
            acc = g if acc is None else tree_map(mx.add, acc, g)
            lsum = lsum + l
        acc = tree_map(lambda a: a / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, lsum)
        window.append(lsum.item() / ACCUM)
        if step == 1:
            nz = sum(1 for _, a in tree_flatten(acc) if mx.any(a != 0).item())
            print(sgf(C="gradient leaves", NZ=f"{nz}/{len(tree_flatten(acc))}",
                      LR=f"{lr_used:.2e}"))
        if step in (1, 2) or step % 25 == 0:
            vl = evaluate(model, val)
            tl = sum(window) / len(window)
            window = []
            print(sgf(MN=step, LR=f"{lr_used:.2e}", TR=f"ppl {math.exp(tl):.2f}",
                      VA=f"ppl {math.exp(vl):.2f}", UN=f"ppl {uni_ppl:.2f}",
                      TM=f"{time.time() - t0:.1f}s"))
    return step


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(11)
    train = make_stream(1800, seed=1)
    val = make_stream(60, seed=2)
    counts = np.bincount(train, minlength=VOCAB) + 1
    p = counts / counts.sum()
    uni_ppl = math.exp(-(np.bincount(val, minlength=VOCAB) * np.log(p)).sum() / len(val))
    print(sgf(GM=1, SZ=9, C=f"train {len(train)} tokens, val {len(val)} tokens",
              PB=" ".join(coord(int(q)) for q in train[:6])))

    t0 = time.time()
    model = MoveLM()
    mx.eval(model.parameters())
    opt, sched = make_optimizer()
    print(sgf(C="session 1", VA=f"ppl {math.exp(evaluate(model, val)):.2f}"))
    step = run_session(model, opt, sched, train, val, 1, SESSION_STEPS, rng, t0, uni_ppl)

    ckdir = tempfile.mkdtemp("_kifu")
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = evaluate(model, val)
    print(sgf(C="checkpoint written", MN=step, FILES=len(os.listdir(ckdir))))
    del model, opt

    model = MoveLM()
    model.load_weights(wpath)
    opt, sched = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, val)
    print(sgf(C="session 2 resumed", MN=int(opt.step.item()),
              VA=f"ppl {math.exp(after):.2f}", DIFF=f"{abs(after - before):.1e}"))
    run_session(model, opt, sched, train, val, step + 1, TOTAL_STEPS, rng, t0, uni_ppl)

    # greedy continuation of a held-out game opening
    seq = [int(t) for t in val[:10]]
    for _ in range(8):
        logits = model(mx.array([seq[-CTX:]]))[0, -1]
        seq.append(int(mx.argmax(logits).item()))
    shown = ["tt" if t == PASS else ("|" if t == EOG else coord(int(t))) for t in seq]
    print(sgf(C="continuation", AB=" ".join(shown[:10]), AW=" ".join(shown[10:])))
    print(sgf(RE="done", VA=f"ppl {math.exp(evaluate(model, val)):.2f}",
              UN=f"ppl {uni_ppl:.2f}", TM=f"{time.time() - t0:.1f}s"))
    shutil.rmtree(ckdir)


if __name__ == "__main__":
    main()
