# Dobby-loom lifting plans: each plan opens with a harness-card symbol that picks
# one of three lifting grammars; the rest of the plan is an order-2 chain under
# that grammar with occasional mis-punched holes.  A two-layer QRNN (Bradbury et
# al. 2016) with fo-pooling learns next-lift prediction.  The forget-gate
# recurrence c_t = f_t c_{t-1} + (1 - f_t) z_t is evaluated in closed form as a
# lower-triangular (semiseparable) matrix exp(segsum(log f)) applied to (1-f) z.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(3)
rng = np.random.default_rng(3)

N_LIFT, N_CARD, T = 8, 3, 32          # lift symbols 0..7, cards 8..10
VOCAB = N_LIFT + N_CARD
SLIP = 0.08                           # chance a hole is mis-punched (uniform symbol)
GRAMMARS = rng.integers(0, N_LIFT, size=(N_CARD, N_LIFT, N_LIFT))


def make_plans(n):
    card = rng.integers(0, N_CARD, n)
    seq = np.zeros((n, T + 1), dtype=np.int32)
    seq[:, 0] = N_LIFT + card
    seq[:, 1] = rng.integers(0, N_LIFT, n)
    seq[:, 2] = rng.integers(0, N_LIFT, n)
    for t in range(3, T + 1):
        nxt = GRAMMARS[card, seq[:, t - 2], seq[:, t - 1]]
        slip = rng.random(n) < SLIP
        seq[:, t] = np.where(slip, rng.integers(0, N_LIFT, n), nxt)
    return seq[:, :-1], seq[:, 1:]


def floor_nats():
    p_hit = 1 - SLIP + SLIP / N_LIFT
    p_miss = SLIP / N_LIFT
    return -(p_hit * math.log(p_hit) + (N_LIFT - 1) * p_miss * math.log(p_miss))


def card_blind_baseline(x, y):
    """Cross-entropy of an order-2 count model that ignores the harness card (positions >= 3)."""
    counts = np.ones((N_LIFT, N_LIFT, N_LIFT)) * 0.5
    a, b, c = x[:, 1:-1].ravel(), x[:, 2:].ravel(), y[:, 2:].ravel()
    np.add.at(counts, (a, b, c), 1)
    probs = counts / counts.sum(-1, keepdims=True)
    return float(-np.log(probs[a, b, c]).mean())


def segsum(log_f):
    """S[..., t, s] = sum_{s < r <= t} log_f[r] for s <= t, -inf above the diagonal.  log_f: (B, T, H)."""
    Tn = log_f.shape[1]
    cs = mx.cumsum(log_f, axis=1)                              # (B, T, H)
    diff = cs[:, :, None, :] - cs[:, None, :, :]               # (B, T, T, H)
    mask = mx.tril(mx.ones((Tn, Tn), dtype=mx.bool_))[None, :, :, None]
    return mx.where(mask, diff, -mx.inf)


class QRNNLayer(nn.Module):
    def __init__(self, d_in, d_hidden):
        super().__init__()
        self.proj = nn.Linear(2 * d_in, 3 * d_hidden)    # width-2 causal convolution as one matmul

    def __call__(self, x):
        prev = mx.pad(x[:, :-1], [(0, 0), (1, 0), (0, 0)])
        z, f, o = mx.split(self.proj(mx.concatenate([x, prev], axis=-1)), 3, axis=-1)
        z, o = mx.tanh(z), mx.sigmoid(o)
        log_f = nn.log_sigmoid(f)
        w = mx.exp(segsum(log_f))                                   # (B, T, T, H)
        u = (1.0 - mx.exp(log_f)) * z                               # (B, T, H)
        c = (w * u[:, None, :, :]).sum(axis=2)                      # (B, T, H)
        return o * c


class PlanModel(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.q1 = QRNNLayer(d, d)
        self.q2 = QRNNLayer(d, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, N_LIFT)

    def __call__(self, x):
        h = self.emb(x)
        h = h + self.q1(h)
        h = h + self.q2(h)
        return self.head(self.norm(h))


def loss_fn(model, x, y):
    logits = model(x)[:, 2:]            # score lifts from position 3 on (two-lift context exists)
    return nn.losses.cross_entropy(logits, y[:, 2:], reduction="mean")


model = PlanModel()
mx.eval(model.parameters())
print(f"plan model: {sum(v.size for _, v in tree_flatten(model.parameters()))} parameters")

# closed-form pooling must match the step-by-step recurrence
lf = nn.log_sigmoid(mx.random.normal((2, 12, 5)))
zz = mx.random.normal((2, 12, 5))
closed = (mx.exp(segsum(lf)) * ((1 - mx.exp(lf)) * zz)[:, None]).sum(2)
c, rows = mx.zeros((2, 5)), []
for t in range(12):
    f_t = mx.exp(lf[:, t])
    c = f_t * c + (1 - f_t) * zz[:, t]
    rows.append(c)
print(f"fo-pool check: closed form vs loop, max |diff| = {mx.abs(closed - mx.stack(rows, 1)).max().item():.2e}")

xv, yv = make_plans(128)
xv_m, yv_m = mx.array(xv), mx.array(yv)
print(
    f"reference points: noise floor {floor_nats():.3f} nats, card-blind order-2 counts "
    f"{card_blind_baseline(*make_plans(20000)):.3f} nats, uniform {math.log(N_LIFT):.3f} nats"
)

# SGDR: three cosine cycles of 90 updates, each restarting at the peak rate
CYCLE, PEAK, FLOOR_LR = 90, 5e-3, 5e-5
N_UPDATES = 3 * CYCLE
ACCUM = 2


def lr_at(u):
    k = u % CYCLE
    return FLOOR_LR + 0.5 * (PEAK - FLOOR_LR) * (1 + math.cos(math.pi * k / CYCLE))


opt = optim.Adam(learning_rate=PEAK)
vg = nn.value_and_grad(model, loss_fn)

t0 = time.time()
window = []
for u in range(N_UPDATES):
    opt.learning_rate = lr_at(u)
    acc = None
    for _ in range(ACCUM):
        xb, yb = make_plans(16)
        loss, g = vg(model, mx.array(xb), mx.array(yb))
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        window.append(loss)
    grads = tree_map(lambda a: a / ACCUM, acc)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, window[-1])
    if u % CYCLE == 0 and u > 0:
        print(f"  (warm restart at update {u}: lr back to {lr_at(u):.1e})")
    if (u + 1) % 30 == 0:
        train_ce = mx.stack(window).mean().item()
        window = []
        val_ce = loss_fn(model, xv_m, yv_m).item()
        acc_v = (mx.argmax(model(xv_m)[:, 2:], -1) == yv_m[:, 2:]).mean().item()
        print(
            f"update {u+1:3d} | lr {lr_at(u):.2e} | train ce {train_ce:.3f} | val ce {val_ce:.3f} "
            f"(floor {floor_nats():.3f}) | val next-lift acc {100*acc_v:.1f}% (ceiling {100*(1-SLIP+SLIP/N_LIFT):.1f}%)"
        )

print(f"finished {N_UPDATES} updates ({N_UPDATES*ACCUM} micro-batches) in {time.time()-t0:.1f}s")
