# Handloom treadling drafts: a draft card names its repeat (one of 6 patterns with periods
# 3..8), then lists which treadle (1..8) is pressed on each pick. Weavers slip now and
# then (5% of picks are a random treadle). A small causal transformer with non-learned
# sinusoidal positions learns to read the next treadle off the card. Cards are 24 picks
# long in training; a longer 48-pick card is scored at the end as a side measurement.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_PAT = 6
N_TREADLE = 8
VOCAB = N_PAT + N_TREADLE
SLIP = 0.05
rng = np.random.default_rng(3)
periods = [3, 4, 5, 6, 7, 8]
patterns = [rng.integers(0, N_TREADLE, size=p) for p in periods]


def cards(n, picks, seed):
    g = np.random.default_rng(seed)
    out = np.zeros((n, picks + 1), dtype=np.int32)
    pid = g.integers(0, N_PAT, size=n)
    for i, p in enumerate(pid):
        out[i, 0] = p
        pat = patterns[p]
        for t in range(picks):
            tr = pat[t % len(pat)] if g.random() > SLIP else g.integers(0, N_TREADLE)
            out[i, t + 1] = N_PAT + tr
    return out


train = cards(2000, 24, 1)
valid = cards(300, 24, 2)
long_valid = cards(300, 48, 3)

# the noise floor: with the pattern known, only slips are unpredictable
p_hit = 1 - SLIP + SLIP / N_TREADLE
p_miss = SLIP / N_TREADLE
FLOOR = -(p_hit * math.log(p_hit) + (N_TREADLE - 1) * p_miss * math.log(p_miss))
UNIFORM = math.log(N_TREADLE)


class Draft(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.SinusoidalPositionalEncoding(d, max_freq=1.0, min_freq=1e-3)
        self.enc = nn.TransformerEncoder(layers, d, heads, mlp_dims=2 * d, norm_first=True)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, tok):
        L = tok.shape[1]
        x = self.emb(tok) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.enc(x, mask))


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def per_position(model, data):
    model.eval()
    logits = model(mx.array(data[:, :-1]))
    ce = nn.losses.cross_entropy(logits, mx.array(data[:, 1:]), reduction="none")
    model.train()
    return np.array(ce.mean(axis=0))


# SGD with momentum under cosine warm restarts: cycles of 60, 60 and 120 steps,
# each starting from a linear warm-up that begins at exactly 0
CYCLES = [60, 60, 120]
PEAKS = [0.3, 0.15, 0.08]
WARM = 10
parts, bounds, acc = [], [], 0
for c, peak in zip(CYCLES, PEAKS):
    parts.append(optim.linear_schedule(0.0, peak, WARM))
    parts.append(optim.cosine_decay(peak, c - WARM, 0.0))
    acc += WARM
    bounds.append(acc)
    acc += c - WARM
    bounds.append(acc)
sched = optim.join_schedules(parts, bounds[:-1])
TOTAL = sum(CYCLES)

mx.random.seed(0)
model = Draft()
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, loss_fn)
brng = np.random.default_rng(5)

print(f"draft cards: {len(train)} train / {len(valid)} valid, 24 picks, periods {periods}")
print(f"nats per pick: uniform {UNIFORM:.4f}, slip floor {FLOOR:.4f}")
print("step   lr       train    valid    note")
t0 = time.time()
window = []
cycle_ends = set(np.cumsum(CYCLES).tolist())
for step in range(TOTAL):
    lr_now = sched(mx.array(step)).item()
    batch = mx.array(train[brng.integers(0, len(train), size=24)])
    loss, grads = step_fn(model, batch)
    grads, _ = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    s = step + 1
    if s in (1, 2) or s % 30 == 0:
        vl = per_position(model, valid).mean()
        note = "cycle end" if s in cycle_ends else ("restart" if s - 1 in cycle_ends else "")
        print(f"{s:4d}  {lr_now:.4f}  {np.mean(window):.4f}  {vl:.4f}  {note}")
        window = []

pp = per_position(model, valid)
pl = per_position(model, long_valid)
print("per-pick valid loss, 24-pick cards, in blocks of 6 picks:")
print("  " + "  ".join(f"{pp[i:i + 6].mean():.3f}" for i in range(0, 24, 6)))
print("48-pick cards (picks 25-48 are longer than any training card):")
print("  " + "  ".join(f"{pl[i:i + 6].mean():.3f}" for i in range(0, 48, 6)))
model.eval()
pred = mx.argmax(model(mx.array(valid[:, :-1])), axis=-1)
acc = (pred == mx.array(valid[:, 1:])).astype(mx.float32).mean().item()
print(f"next-treadle accuracy on 24-pick cards {100 * acc:.1f}% (slip-limited best {100 * p_hit:.1f}%)")
print(f"final valid {pp.mean():.4f} nats/pick vs floor {FLOOR:.4f}; {time.time() - t0:.1f}s")
