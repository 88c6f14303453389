# Tiny gated-delta-rule (linear attention) sequence model, chunked forward.
# The chunk kernel kicks off evaluation at each chunk boundary with
# mx.async_eval so the host can keep building the next layer's graph.
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("gdn")
mx.random.seed(3)

D, T, B, CHUNK = 16, 32, 16, 8


def gated_delta_chunked(q, k, v, g, beta, state, C=CHUNK):
    """q,k,v: (B,T,D); g,beta: (B,T); state: (B,D,D). Returns outputs and final state."""
    outs = []
    S = state
    for c0 in range(0, q.shape[1], C):
        ys = []
        for t in range(c0, min(c0 + C, q.shape[1])):
            kt, vt, qt = k[:, t], v[:, t], q[:, t]
            S = S * g[:, t][:, None, None]
            pred = (S @ kt[:, :, None]).squeeze(-1)
            S = S + beta[:, t][:, None, None] * ((vt - pred)[:, :, None] @ kt[:, None, :])
            ys.append((S @ qt[:, :, None]).squeeze(-1))
        Y = mx.stack(ys, axis=1)
        # overlap: start computing this chunk while Python builds the next one
        mx.async_eval(Y, S)
        outs.append(Y)
    return mx.concatenate(outs, axis=1), S


class GDNBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.gate = nn.Linear(d, 2)
        self.out = nn.Linear(d, d)
        self.norm = nn.RMSNorm(d)

    def __call__(self, x):
        h = self.norm(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        k = k / mx.maximum(mx.linalg.norm(k, axis=-1, keepdims=True), 1e-6)
        gb = mx.sigmoid(self.gate(h))
        state = mx.zeros((x.shape[0], x.shape[-1], x.shape[-1]))
        y, _ = gated_delta_chunked(q, k, v, gb[..., 0], gb[..., 1], state)
        return x + self.out(y)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(1, D)
        self.blocks = [GDNBlock(D), GDNBlock(D)]
        self.head = nn.Linear(D, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


def make_batch():
    # next-value prediction on noisy sinusoids with random frequency / phase
    f = mx.random.uniform(0.1, 0.4, (B, 1))
    ph = mx.random.uniform(0, 2 * math.pi, (B, 1))
    t = mx.arange(T + 1)[None, :]
    s = mx.sin(f * t + ph) + 0.05 * mx.random.normal((B, T + 1))
    return s[:, :-1, None], s[:, 1:, None]


model = Model()
mx.eval(model.parameters())
x, y = make_batch()
log.info("warm-up forward ok, output shape %s", model(x).shape)  # inference path is fine


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
opt = optim.Adam(learning_rate=3e-3)
for it in range(1, 301):
    x, y = make_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 20 == 0 or it <= 3:
        log.info("iter %d mse %.5f", it, loss.item())
log.info("finished")
