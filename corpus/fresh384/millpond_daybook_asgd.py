"""Word-level LSTM language model of a tide-mill miller's daybook.

Tied input/output embeddings, plain SGD with gradient clipping, and the
non-monotonically triggered switch to averaged SGD (NT-ASGD, Merity et al.):
once the validation perplexity has not beaten its best from `NONMONO` reports
ago, the run keeps taking SGD steps but also keeps a running average of the
weights, and from then on every evaluation uses the averaged weights.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 11
EMB, HID = 32, 64
WIN, BATCH = 16, 32
LR, CLIP = 4.0, 0.5
STEPS, EVERY, NONMONO = 480, 40, 3

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- corpus
TIDES = ["spring", "neap", "high", "slack"]
GRAINS = ["wheat", "barley", "oats", "rye"]
STONES = ["peak", "french", "grey"]
BUYERS = ["baker", "brewer", "carter", "farmer", "parson"]
NUMS = ["two", "three", "four", "five", "six", "seven", "eight"]


def sentence():
    kind = rng.integers(4)
    if kind == 0:
        t = TIDES[rng.integers(4)]
        return ["pond", "filled", "on", "the", t, "tide", "."]
    if kind == 1:
        g = GRAINS[rng.integers(4)]
        s = STONES[rng.integers(3)]
        n = NUMS[rng.integers(7)]
        return ["ground", n, "sacks", "of", g, "on", "the", s, "stones", "."]
    if kind == 2:
        b = BUYERS[rng.integers(5)]
        n = NUMS[rng.integers(7)]
        g = GRAINS[rng.integers(4)]
        # buyers have habits: the brewer takes barley, the baker wheat
        if b == "brewer" and rng.random() < 0.8:
            g = "barley"
        if b == "baker" and rng.random() < 0.8:
            g = "wheat"
        return [b, "took", n, "sacks", "of", g, "flour", "."]
    s = STONES[rng.integers(3)]
    return ["dressed", "the", s, "stones", "and", "greased", "the", "wheel", "."]


def stream(n_sent):
    words = []
    for _ in range(n_sent):
        words += sentence()
    return words


train_words, valid_words = stream(9000), stream(1200)
vocab = sorted(set(train_words) | set(valid_words))
stoi = {w: i for i, w in enumerate(vocab)}
V = len(vocab)
train_ids = np.array([stoi[w] for w in train_words], dtype=np.int32)
valid_ids = np.array([stoi[w] for w in valid_words], dtype=np.int32)

# bigram reference (add-0.1 smoothing), counted on the training stream
counts = np.full((V, V), 0.1)
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
probs = counts / counts.sum(1, keepdims=True)
bigram_ppl = math.exp(-np.mean(np.log(probs[valid_ids[:-1], valid_ids[1:]])))

# ---------------------------------------------------------------- model


class DaybookLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, EMB)
        self.lstm = nn.LSTM(EMB, HID)
        self.down = nn.Linear(HID, EMB)

    def __call__(self, x):
        h, _ = self.lstm(self.embed(x))
        return self.embed.as_linear(self.down(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = DaybookLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
opt = optim.SGD(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)

valid_x = np.stack([valid_ids[i:i + WIN] for i in range(0, len(valid_ids) - WIN - 1, WIN)])
valid_y = np.stack([valid_ids[i + 1:i + WIN + 1] for i in range(0, len(valid_ids) - WIN - 1, WIN)])
valid_x, valid_y = mx.array(valid_x), mx.array(valid_y)


def valid_ppl():
    return math.exp(loss_fn(model, valid_x, valid_y).item())


def batch():
    starts = rng.integers(0, len(train_ids) - WIN - 1, size=BATCH)
    x = np.stack([train_ids[s:s + WIN] for s in starts])
    y = np.stack([train_ids[s + 1:s + WIN + 1] for s in starts])
    return mx.array(x), mx.array(y)


def logfmt(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


t0 = time.time()
logfmt(event="setup", vocab=V, train_tokens=len(train_ids), valid_tokens=len(valid_ids),
       params=n_params, tied="embed", uniform_ppl=float(V), bigram_ppl=bigram_ppl)
logfmt(event="eval", step=0, phase="sgd", valid_ppl=valid_ppl())

x0, y0 = batch()
_, g0 = loss_and_grad(model, x0, y0)
flat = tree_flatten(g0)
nonzero = sum(1 for _, g in flat if mx.abs(g).max().item() > 0)
logfmt(event="grad_check", leaves=len(flat), nonzero=nonzero)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, CLIP)
    opt.update(model, grads)
    return loss


history = []
avg = None
n_avg = 0
window = 0.0
for step in range(1, STEPS + 1):
    x, y = batch()
    loss = train_step(x, y)
    if avg is not None:
        n_avg += 1
        avg = tree_map(lambda a, p: a + (p - a) / n_avg, avg, model.parameters())
        mx.eval(model.parameters(), opt.state, loss, avg)
    else:
        mx.eval(model.parameters(), opt.state, loss)
    window += loss.item()

    if step % EVERY == 0:
        train_ppl = math.exp(window / EVERY)
        window = 0.0
        if avg is None:
            v = valid_ppl()
            phase = "sgd"
        else:
            live = model.parameters()
            model.update(avg)
            v = valid_ppl()
            model.update(live)
            phase = "asgd"
        logfmt(event="eval", step=step, phase=phase, lr=LR, train_ppl=train_ppl,
               valid_ppl=v, averaged_over=n_avg, secs=round(time.time() - t0, 1))
        if avg is None and len(history) > NONMONO and v > min(history[:-NONMONO]):
            avg = tree_map(lambda p: p, model.parameters())
            n_avg = 1
            logfmt(event="switch", step=step, to="asgd",
                   best_before=min(history[:-NONMONO]), now=v)
        history.append(v)

if avg is not None:
    model.update(avg)
final = valid_ppl()
logfmt(event="done", steps=STEPS, valid_ppl=final, bigram_ppl=bigram_ppl,
       uniform_ppl=float(V), weights="averaged" if avg is not None else "last",
       secs=round(time.time() - t0, 1))
