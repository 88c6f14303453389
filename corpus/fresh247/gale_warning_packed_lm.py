"""Pretraining a tiny decoder-only LM from scratch on synthetic shipping forecasts.

Forecasts are generated from a small grammar whose choices are all uniform, so the
exact entropy of the source (bits per token) is known and printed beside the loss.
Documents are joined with an end-of-forecast token and cut into equal-length rows (plain
GPT-style packing, attention may cross a document boundary). The output embedding
is tied to the input table. Learning rate: warm-up from exactly 0, a long flat
stretch, then a linear cool-down that ends at exactly 0 on the last step.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

AREAS = ["viking", "forties", "cromarty", "forth", "tyne", "dogger", "fisher",
         "humber", "thames", "dover", "wight", "portland", "plymouth", "lundy",
         "fastnet", "shannon"]
DIRS = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"]
CHANGE = ["veering", "backing", "becoming", "cyclonic"]
WEATHER = [["rain"], ["showers"], ["fair"], ["drizzle"], ["fog", "patches"], ["rain", "then", "showers"]]
VIS = [["good"], ["moderate"], ["poor"], ["moderate", "or", "good"], ["moderate", "or", "poor"],
       ["occasionally", "very", "poor"]]
PUNCT = [",", ":", ".", "to", "later", "occasionally", "gale", "severe"]
EOF_TOK = "<eof>"

vocab = sorted(set(AREAS + DIRS + CHANGE + PUNCT + [w for g in WEATHER + VIS for w in g]
                   + [str(f) for f in range(3, 11)])) + [EOF_TOK]
stoi = {w: i for i, w in enumerate(vocab)}
V = len(vocab)


def forecast(rng):
    """Returns (tokens, bits) where bits is -log2 p(tokens) under the generator."""
    bits = 0.0
    k = rng.integers(1, 4)
    bits += math.log2(3)
    areas = []
    for i in range(k):
        pool = [a for a in AREAS if a not in areas]
        areas.append(pool[rng.integers(len(pool))])
        bits += math.log2(len(pool))
    toks = []
    for i, a in enumerate(areas):
        toks += [a, "," if i < k - 1 else ":"]
    d = DIRS[rng.integers(8)]
    bits += 3.0
    f1 = int(rng.integers(3, 8))
    bits += math.log2(5)
    toks += [d, str(f1)]
    if rng.random() < 0.5:
        toks += ["to", str(f1 + 1)]
    bits += 1.0
    r = rng.integers(3)
    bits += math.log2(3)
    if r == 1:
        g = f1 + 2
        toks += [",", "occasionally", "gale" if g == 8 else ("severe" if g >= 9 else str(g)),
                 str(g) if g >= 8 else "later"]
        if g >= 9:
            toks += ["gale"]
    elif r == 2:
        c = CHANGE[rng.integers(4)]
        bits += 2.0
        toks += [",", c, "later"]
    toks += ["."]
    w = WEATHER[rng.integers(len(WEATHER))]
    bits += math.log2(len(WEATHER))
    v = VIS[rng.integers(len(VIS))]
    bits += math.log2(len(VIS))
    toks += w + ["."] + v + [".", EOF_TOK]
    return toks, bits


def build_stream(n_docs, seed):
    rng = np.random.default_rng(seed)
    ids, total_bits = [], 0.0
    for _ in range(n_docs):
        t, b = forecast(rng)
        ids += [stoi[x] for x in t]
        total_bits += b
    return np.array(ids, dtype=np.int32), total_bits / len(ids)


SEQ = 32


def pack_rows(stream):
    n = (len(stream) - 1) // SEQ
    x = stream[: n * SEQ].reshape(n, SEQ)
    y = stream[1: n * SEQ + 1].reshape(n, SEQ)
    return x, y


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // heads)
        self.n2 = nn.RMSNorm(d)
        self.gate = nn.Linear(d, 2 * d, bias=False)
        self.up = nn.Linear(d, 2 * d, bias=False)
        self.down = nn.Linear(2 * d, d, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.n1(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        h = self.n2(x)
        return x + self.down(nn.silu(self.gate(h)) * self.up(h))


class TinyLM(nn.Module):
    def __init__(self, d=32, heads=2, depth=2):
        super().__init__()
        self.embed = nn.Embedding(V, d)
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.norm = nn.RMSNorm(d)

    def __call__(self, ids):
        L = ids.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(mx.float32)
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, mask)
        return self.embed.as_linear(self.norm(x))


def bits_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") / math.log(2)


def main():
    t_start = time.time()
    mx.random.seed(7)
    train_stream, floor_train = build_stream(9000, seed=1)
    valid_stream, floor_valid = build_stream(600, seed=2)
    xtr, ytr = pack_rows(train_stream)
    xva, yva = (mx.array(a) for a in pack_rows(valid_stream))
    counts = np.bincount(train_stream, minlength=V) + 1
    p = counts / counts.sum()
    unigram_bits = float(-(np.bincount(valid_stream, minlength=V) * np.log2(p)).sum() / len(valid_stream))

    model = TinyLM()
    mx.eval(model.parameters())
    n_params = sum(a.size for _, a in tree_flatten(model.parameters()))
    print(f"RADIO LOG  vocab {V}  rows {len(xtr)}x{SEQ}  params {n_params}  (output layer tied to embedding)")
    print(f"RADIO LOG  source entropy {floor_valid:.3f} bits/token (lower bound)  unigram {unigram_bits:.3f}  "
          f"uniform {math.log2(V):.3f}")

    steps, warm, cool, peak = 360, 30, 90, 1e-2
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.linear_schedule(peak, peak, steps - warm - cool),
         optim.linear_schedule(peak, 0.0, cool - 1)],
        [warm, steps - cool],
    )
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)

    loss_and_grad = nn.value_and_grad(model, bits_loss)

    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    rng = np.random.default_rng(3)
    report = {1, warm, warm + 1, steps - cool, steps - cool + 1, steps} | set(range(60, steps, 60))
    window = []
    for it in range(1, steps + 1):
        idx = rng.integers(0, len(xtr), size=8)
        lr_now = sched(it - 1).item()
        loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if it in report:
            val = bits_loss(model, xva, yva).item()
            clock = f"{(it // 60) % 24:02d}{it % 60:02d}Z"
            print(f"{clock} STEP {it:04d}  lr {lr_now:.2e}  train {np.mean(window):.3f}  valid {val:.3f}  "
                  f"floor {floor_valid:.3f}  gap {val - floor_valid:+.3f}")
            window = []

    # sample forecasts after an end-of-forecast token and check them with the grammar
    mx.random.seed(11)
    n = 40
    seqs = mx.full((n, 1), stoi[EOF_TOK], dtype=mx.int32)
    for _ in range(30):
        logits = model(seqs)[:, -1, :]
        nxt = mx.random.categorical(logits).astype(mx.int32)[:, None]
        seqs = mx.concatenate([seqs, nxt], axis=1)
    ok = 0
    first = None
    for row in np.array(seqs)[:, 1:]:
        words = [vocab[i] for i in row]
        if EOF_TOK in words:
            words = words[: words.index(EOF_TOK)]
            ok += int(parses(words))
            if first is None:
                first = " ".join(words)
    print(f"SAMPLE     {first}")
    print(f"END OF LOG grammatical {ok}/{n}  final lr {opt.learning_rate.item():.1e}  {time.time() - t_start:.1f}s")


def parses(words):
    """True when a word list can come out of forecast()."""
    i = 0
    seen = []
    while i < len(words) and words[i] in AREAS and words[i] not in seen:
        seen.append(words[i])
        if i + 1 < len(words) and words[i + 1] == ",":
            i += 2
            continue
        break
    if not seen or len(seen) > 3 or i + 1 >= len(words) or words[i + 1] != ":":
        return False
    rest = words[i + 2:]
    if len(rest) < 2 or rest[0] not in DIRS or not rest[1].isdigit():
        return False
    f1 = int(rest[1])
    rest = rest[2:]
    if rest[:1] == ["to"]:
        if rest[1:2] != [str(f1 + 1)]:
            return False
        rest = rest[2:]
    if rest[:2] == [",", "occasionally"]:
        g = f1 + 2
        want = ["gale", "8"] if g == 8 else (["severe", str(g), "gale"] if g >= 9 else [str(g), "later"])
        if rest[2:2 + len(want)] != want:
            return False
        rest = rest[2 + len(want):]
    elif rest[:1] == [","]:
        if len(rest) < 3 or rest[1] not in CHANGE or rest[2] != "later":
            return False
        rest = rest[3:]
    if rest[:1] != ["."]:
        return False
    rest = rest[1:]
    for w in WEATHER:
        if rest[: len(w)] == w and rest[len(w): len(w) + 1] == ["."]:
            tail = rest[len(w) + 1:]
            return any(tail == v + ["."] for v in VIS)
    return False


if __name__ == "__main__":
    main()
