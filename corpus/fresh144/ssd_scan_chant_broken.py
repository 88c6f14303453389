"""Tiny Mamba-2 (SSD, chunked scan) next-token model on synthetic chant sequences.

Each sequence repeats a short random motif (period 3..6) with 10% token noise;
the model has to pick up the motif from context and continue it.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 16
SEQ = 64
CHUNK = 32
BATCH = 16
STEPS = 160


def ssd_chunk(X, A_log, B, C, h):
    Bsz, L, H, P = X.shape
    cumlog = mx.cumsum(A_log, axis=1)
    cumlog_start = mx.concatenate([mx.zeros((Bsz, 1, H)), cumlog[:, :-1]], axis=1)
    log_M = cumlog[:, :, None, :] - cumlog_start[:, None, :, :]
    M = mx.exp(log_M)
    causal = mx.tril(mx.ones((L, L)))
    M = M * causal[None, :, :, None]

    gamma = mx.exp(cumlog)
    hC = mx.einsum("bhpn,bln->blhp", h, C)
    y_h = gamma[:, :, :, None] * hC
    BC = mx.einsum("bsn,btn->bts", B, C)
    MB = M * BC[:, :, :, None]
    y_intra = mx.einsum("btsh,bshp->bthp", MB, X)
    y = y_h + y_intra

    gamma_full = mx.exp(cumlog[:, -1, :])
    decay = mx.exp(mx.minimum(cumlog[:, -1:, :] - cumlog_start, 0.0))
    dBX = mx.einsum("bshp,bsn->bhpn", decay[:, :, :, None] * X, B)
    h_new = gamma_full[:, :, None, None] * h + dBX
    return y, h_new


class Mamba2Block(nn.Module):
    def __init__(self, d_model, state_size=16, expand=2, d_conv=4, head_dim=16, chunk=CHUNK):
        super().__init__()
        self.d_inner = d_model * expand
        self.n_heads = self.d_inner // head_dim
        self.head_dim = head_dim
        self.state_size = state_size
        self.d_conv = d_conv
        self.chunk = chunk
        self.norm = nn.RMSNorm(d_model)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * state_size + self.n_heads, bias=False)
        self.conv_weight = mx.random.normal((d_conv, self.d_inner)) * 0.02
        self.conv_bias = mx.zeros(self.d_inner)
        self.A_log = mx.log(mx.arange(1, self.n_heads + 1, dtype=mx.float32))
        self.D = mx.ones(self.n_heads)
        self.dt_bias = mx.zeros(self.n_heads)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def causal_conv(self, x):
        T = x.shape[1]
        xp = mx.pad(x, [(0, 0), (self.d_conv - 1, 0), (0, 0)])
        return sum(xp[:, k:k + T, :] * self.conv_weight[k] for k in range(self.d_conv)) + self.conv_bias

    def scan(self, X, A, Bm, Cm):
        Bsz, T, H, P = X.shape
        L = self.chunk
        n = T // L
        Xc = X.reshape(Bsz, n, L, H, P)
        Ac = A.reshape(Bsz, n, L, H)
        Bc = Bm.reshape(Bsz, n, L, -1)
        Cc = Cm.reshape(Bsz, n, L, -1)
        h = mx.zeros((Bsz, H, P, self.state_size))
        ys = []
        for c in range(n):
            y, h = ssd_chunk(Xc[:, c], Ac[:, c], Bc[:, c], Cc[:, c], h)
            ys.append(y)
        return mx.concatenate(ys, axis=1)

    def __call__(self, x):
        Bsz, T, _ = x.shape
        res = x
        x = self.norm(x)
        p = self.in_proj(x)
        di, ss = self.d_inner, self.state_size
        xs, z = p[..., :di], p[..., di:2 * di]
        Bm, Cm = p[..., 2 * di:2 * di + ss], p[..., 2 * di + ss:2 * di + 2 * ss]
        log_dt = p[..., 2 * di + 2 * ss:]
        xs = nn.silu(self.causal_conv(xs))
        dt = nn.softplus(log_dt + self.dt_bias)
        A = -mx.exp(self.A_log)[None, None, :] * dt
        xh = xs.reshape(Bsz, T, self.n_heads, self.head_dim)
        y = self.scan(xh, A, Bm, Cm) + self.D[None, None, :, None] * xh
        y = y.reshape(Bsz, T, di) * nn.silu(z)
        return res + self.out_proj(y)


class ChantLM(nn.Module):
    def __init__(self, d_model=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d_model)
        self.block = Mamba2Block(d_model)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)

    def __call__(self, tok):
        return self.head(self.norm(self.block(self.emb(tok))))


rng = np.random.default_rng(7)


def make_batch(n):
    seqs = np.empty((n, SEQ + 1), dtype=np.int32)
    for i in range(n):
        period = rng.integers(3, 7)
        motif = rng.integers(0, VOCAB, size=period)
        s = np.resize(motif, SEQ + 1)
        noise = rng.random(SEQ + 1) < 0.1
        s[noise] = rng.integers(0, VOCAB, size=noise.sum())
        seqs[i] = s
    return mx.array(seqs[:, :-1]), mx.array(seqs[:, 1:])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(3)
model = ChantLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=4e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)
val_x, val_y = make_batch(64)

print(f"chance-level loss ln({VOCAB}) = {math.log(VOCAB):.3f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch(BATCH)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 10 == 0:
        logits = model(val_x)
        vloss = nn.losses.cross_entropy(logits, val_y, reduction="mean")
        acc = (mx.argmax(logits, axis=-1) == val_y).astype(mx.float32)[:, 16:].mean()
        print(f"step {step:4d} | train {loss.item():.4f} | val {vloss.item():.4f} "
              f"| acc@16+ {100 * acc.item():5.1f}% | {time.time() - t0:5.1f}s")
print("done")
