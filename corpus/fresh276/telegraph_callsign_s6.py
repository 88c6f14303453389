"""Morse relay desk: recover the call-sign letters a clerk keyed between filler dits.

Each tape is 32 symbols: 4 call-sign letters scattered among filler, then 4 'read back'
markers. A 2-layer selective state-space model (input-dependent step size, B and C,
diagonal negative A, short causal conv) must emit the 4 letters in order at the markers.
"""
import time
from functools import partial
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(276)

N_LETTERS = 12          # call-sign alphabet
FILL, MARK = 0, 1       # filler dit and read-back marker
VOCAB = N_LETTERS + 2
SPAN, K = 28, 4         # 28 keyed positions, 4 of them carry letters
T = SPAN + K
CHUNK = 4               # scan chunk length (T must be a multiple)


def make_tapes(n):
    letters = mx.random.randint(2, VOCAB, (n, K))
    # choose K distinct sorted slots per tape by ranking random scores
    score = mx.random.uniform(shape=(n, SPAN))
    slots = mx.sort(mx.argsort(score, axis=1)[:, :K], axis=1)
    keyed = mx.zeros((n, SPAN), dtype=mx.int32)
    rows = mx.repeat(mx.arange(n)[:, None], K, axis=1)
    keyed[rows, slots] = letters
    x = mx.concatenate([keyed, mx.full((n, K), MARK, dtype=mx.int32)], axis=1)
    return x, letters


def chunked_scan(log_a, dBu, Cm, c):
    """h_t = a_t * h_{t-1} + dBu_t, y_t = <h_t, C_t>, computed chunk by chunk:
    exact pairwise decays inside a chunk, one carried state between chunks."""
    Bsz, L, Di, N = dBu.shape
    nc = L // c
    la = log_a.reshape(Bsz, nc, c, Di, N)
    xb = dBu.reshape(Bsz, nc, c, Di, N)
    cc = Cm.reshape(Bsz, nc, c, 1, N)
    cum = mx.cumsum(la, axis=2)                                   # within-chunk log decay
    diff = cum[:, :, :, None] - cum[:, :, None, :]                # (B, nc, t, s, Di, N)
    causal = (mx.arange(c)[:, None] >= mx.arange(c)[None, :])[None, None, :, :, None, None]
    w = mx.exp(mx.where(causal, diff, -mx.inf))
    h_local = (w * xb[:, :, None]).sum(axis=3)                    # state from this chunk only
    carry = mx.zeros((Bsz, Di, N))
    outs = []
    for k in range(nc):
        h = h_local[:, k] + mx.exp(cum[:, k]) * carry[:, None]
        outs.append((h * cc[:, k]).sum(-1))
        carry = h[:, -1]
    return mx.concatenate(outs, axis=1)


class SelectiveSSM(nn.Module):
    def __init__(self, d_model, d_inner=32, d_state=4, conv=4):
        super().__init__()
        self.d_inner, self.d_state = d_inner, d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, conv, padding=conv - 1, groups=d_inner)
        self.x_proj = nn.Linear(d_inner, 1 + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(1, d_inner)
        self.A_log = mx.log(mx.repeat(mx.arange(1, d_state + 1, dtype=mx.float32)[None], d_inner, 0))
        self.D = mx.ones((d_inner,))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def __call__(self, x):
        B_, L, _ = x.shape
        u, z = mx.split(self.in_proj(x), 2, axis=-1)
        u = nn.silu(self.conv(u)[:, :L])
        dbc = self.x_proj(u)
        dt = nn.softplus(self.dt_proj(dbc[..., :1]))            # (B, L, Di)
        Bm = dbc[..., 1:1 + self.d_state]                          # (B, L, N)
        Cm = dbc[..., 1 + self.d_state:]                           # (B, L, N)
        A = -mx.exp(self.A_log)                                    # (Di, N)
        log_a = dt[..., None] * A                                  # (B, L, Di, N), <= 0
        dBu = (dt * u)[..., None] * Bm[:, :, None, :]              # (B, L, Di, N)
        y = chunked_scan(log_a, dBu, Cm, CHUNK) + u * self.D
        return self.out_proj(y * nn.silu(z))


class Relay(nn.Module):
    def __init__(self, d=32, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.norms = [nn.RMSNorm(d) for _ in range(layers)]
        self.mixers = [SelectiveSSM(d) for _ in range(layers)]
        self.out_norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, VOCAB, bias=False)

    def __call__(self, x):
        h = self.emb(x)
        for n, m in zip(self.norms, self.mixers):
            h = h + m(n(h))
        return self.head(self.out_norm(h))


def loss_fn(model, x, letters):
    logits = model(x)[:, SPAN:]
    return nn.losses.cross_entropy(logits, letters, reduction="mean")


def readback(model, x, letters):
    pred = mx.argmax(model(x)[:, SPAN:], axis=-1)
    per_letter = (pred == letters).astype(mx.float32)
    return per_letter.mean().item(), per_letter.min(axis=1).mean().item()


model = Relay()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

STEPS, WARM, BATCH = 400, 60, 32
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, STEPS - WARM, 2e-4)], [WARM])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
opt.init(model.trainable_parameters())
step_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    return loss

val_x, val_y = make_tapes(256)
chance = 1.0 / N_LETTERS
print(f"relay desk | tapes of {T} symbols, {K} letters hidden in {SPAN} keyed slots | params {n_params}")
print(f"chance per-letter {100 * chance:.1f}% | chance whole call-sign {100 * chance ** K:.3f}% | "
      f"uniform loss {math.log(N_LETTERS):.3f} nats")

t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_tapes(BATCH)
    if step == 1:
        _, grads = step_fn(model, x, y)
        flat = tree_flatten(grads)
        silent = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
        print(f"gradient audit (eager, before compiling): {len(flat)} leaves, "
              f"{len(silent)} all-zero {silent}; first lr {schedule(0).item():.1e}")
    loss = train_step(x, y)
    mx.eval(state, loss)
    if step % 50 == 0 or step == 1:
        acc, full = readback(model, val_x, val_y)
        print(f"[{step:4d}/{STEPS}] lr {opt.learning_rate.item():.2e}  loss {loss.item():.3f} nats  "
              f"letters {100 * acc:5.1f}% (chance {100 * chance:.1f}%)  "
              f"call-signs {100 * full:5.1f}%  {time.time() - t0:5.1f}s")

acc, full = readback(model, val_x, val_y)
print(f"done: held-out letters {100 * acc:.1f}%, whole call-signs {100 * full:.1f}% "
      f"over {val_x.shape[0]} tapes in {time.time() - t0:.1f}s")
