# Country-dance caller's cards: predict the next call of a dance from the calls so far.
# Each card starts with a dance-name token, then 24 calls drawn from that dance's own
# call-to-call table. The model is a small causal transformer that uses no positional
# encoding at all (NoPE): the causal mask is the only order signal it gets.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_DANCES = 4
N_CALLS = 12
VOCAB = N_DANCES + N_CALLS  # dance names 0..3, calls 4..15
CARD_LEN = 25               # name + 24 calls
rng = np.random.default_rng(7)

# every dance has its own sparse call-to-call table (3 likely successors per call)
tables = np.zeros((N_DANCES, N_CALLS, N_CALLS))
for d in range(N_DANCES):
    for c in range(N_CALLS):
        nxt = rng.choice(N_CALLS, size=3, replace=False)
        tables[d, c, nxt] = rng.dirichlet(np.ones(3) * 2.0)
start_probs = rng.dirichlet(np.ones(N_CALLS), size=N_DANCES)


def deal_cards(n, seed):
    g = np.random.default_rng(seed)
    cards = np.zeros((n, CARD_LEN), dtype=np.int32)
    dances = g.integers(0, N_DANCES, size=n)
    for i, d in enumerate(dances):
        cards[i, 0] = d
        c = g.choice(N_CALLS, p=start_probs[d])
        cards[i, 1] = N_DANCES + c
        for t in range(2, CARD_LEN):
            c = g.choice(N_CALLS, p=tables[d, c])
            cards[i, t] = N_DANCES + c
    return cards


train = deal_cards(1500, 1)
valid = deal_cards(200, 2)

# reference numbers, all in nats per predicted call (positions 1..24)
def cond_entropy_floor():
    h = 0.0
    for d in range(N_DANCES):
        p0 = start_probs[d]
        h_start = -(p0 * np.log(p0)).sum()
        row_h = np.array([-(r[r > 0] * np.log(r[r > 0])).sum() for r in tables[d]])
        # call distribution at each step, exactly
        dist, tot = p0.copy(), h_start
        for _ in range(CARD_LEN - 2):
            tot += (dist * row_h).sum()
            dist = dist @ tables[d]
        h += tot / (CARD_LEN - 1)
    return h / N_DANCES


def bigram_baseline():
    counts = np.ones((VOCAB, VOCAB)) * 0.5
    for row in train:
        for a, b in zip(row[1:-1], row[2:]):
            counts[a, b] += 1
    first = np.ones((VOCAB, VOCAB)) * 0.5
    for row in train:
        first[row[0], row[1]] += 1
    pb = counts / counts.sum(1, keepdims=True)
    pf = first / first.sum(1, keepdims=True)
    nll, n = 0.0, 0
    for row in valid:
        nll -= math.log(pf[row[0], row[1]]); n += 1
        for a, b in zip(row[1:-1], row[2:]):
            nll -= math.log(pb[a, b]); n += 1
    return nll / n


FLOOR = cond_entropy_floor()
BIGRAM = bigram_baseline()
UNIFORM = math.log(N_CALLS)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x):
        B, L, D = x.shape
        h = self.ln1(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        split = lambda a: a.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = split(q), split(k), split(v)
        scale = 1.0 / math.sqrt(q.shape[-1])
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask="causal")
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class CallerLM(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, tok):
        x = self.emb(tok)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def loss_fn(model, cards):
    logits = model(cards[:, :-1])
    return nn.losses.cross_entropy(logits, cards[:, 1:], reduction="mean")


def valid_loss(model):
    v = mx.array(valid)
    return loss_fn(model, v).item()


TOTAL = 240
WARM = 20
PEAK = 2e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)],
    [WARM],
)
BATCH = 16


def make(seed):
    mx.random.seed(seed)
    m = CallerLM()
    o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o


def run_session(model, opt, start, stop, batch_rng, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = batch_rng.integers(0, len(train), size=BATCH)
        lr_now = sched(mx.array(opt.step)).item() if hasattr(opt, "step") else float("nan")
        loss, grads = step_fn(model, mx.array(train[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (0, 1, 2) or (step + 1) % 40 == 0:
            vl = valid_loss(model)
            print(
                f"card {step + 1:4d}/{TOTAL}  lr {lr_now:.2e}  train {loss.item():.4f}  "
                f"valid {vl:.4f}  gap-to-floor {vl - FLOOR:+.4f}  ({time.time() - t0:4.1f}s)"
            )


print(f"vocab {VOCAB} (4 dance names + 12 calls), card length {CARD_LEN}, no positional encoding")
print(f"references (nats/call): uniform {UNIFORM:.4f}  bigram(valid) {BIGRAM:.4f}  floor {FLOOR:.4f}")

t0 = time.time()
model, opt = make(0)
print(f"parameters: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"valid before training {valid_loss(model):.4f}")
batch_rng = np.random.default_rng(11)

with tempfile.TemporaryDirectory() as tmp:
    HALF = 120
    run_session(model, opt, 0, HALF, batch_rng, t0)
    wpath = os.path.join(tmp, "caller.safetensors")
    opath = os.path.join(tmp, "caller_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = valid_loss(model)
    print(f"-- interval: cards saved after {HALF} steps, valid {before:.4f}; sitting out a set --")
    del model, opt

    model, opt = make(123)  # fresh weights, replaced by the saved ones
    model.load_weights(wpath)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = valid_loss(model)
    print(f"-- back on the floor: reloaded valid {after:.4f} (step counter {opt.step.item()}) --")
    run_session(model, opt, HALF, TOTAL, batch_rng, t0)

final = valid_loss(model)

# per-dance check: how well the model names the next call once the dance is known
v = mx.array(valid)
logits = model(v[:, :-1])
pred = mx.argmax(logits, axis=-1)
hit = (pred == v[:, 1:]).astype(mx.float32).mean().item()
# best possible top-1 hit rate given the true tables (pick the most likely successor)
best = 0.0
for row in valid:
    d = row[0]
    best += start_probs[d].max()
    for a in row[1:-1]:
        best += tables[d, a - N_DANCES].max()
best /= valid.shape[0] * (CARD_LEN - 1)

print(f"final valid {final:.4f} nats/call  (bigram {BIGRAM:.4f}, floor {FLOOR:.4f})")
print(f"next-call top-1 {100 * hit:.1f}%  (best possible {100 * best:.1f}%)")
print(f"done in {time.time() - t0:.1f}s")
