# Tiny gated-decay linear-attention ("DeltaNet-lite") sequence regressor.
# Each position may only look back; a learned per-token gate sets how fast
# older positions fade.  Chunkwise decay matrix built from cumulative log-gates.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

D, T, B = 16, 96, 8
STEPS = 900


class GatedDecayMixer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.gate = nn.Linear(d, 1)
        self.out = nn.Linear(d, d)
        self.scale = d ** -0.5

    def __call__(self, x):
        t = x.shape[1]
        q, k, v = self.q(x), self.k(x), self.v(x)
        log_g = -nn.softplus(self.gate(x))[..., 0]          # (B, T), <= 0
        cum = mx.cumsum(log_g, axis=-1)                      # (B, T)
        causal = mx.tril(mx.ones((t, t), dtype=mx.bool_))
        # decay[i, j] = exp(cum[i] - cum[j]) for j <= i, 0 above the diagonal
        decay = mx.exp(cum[:, :, None] - cum[:, None, :]) * causal
        attn = (q @ k.transpose(0, 2, 1)) * self.scale * decay
        return self.out(attn @ v)


def make_batch():
    x = mx.random.normal((B, T, D))
    # target: a smoothed version of the input with a short (2-step) memory
    prev = mx.concatenate([mx.zeros((B, 1, D)), x[:, :-1]], axis=1)
    y = 0.8 * x + 0.2 * prev
    return x, y


model = GatedDecayMixer(D)
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0:
        g = -nn.softplus(model.gate(x))[..., 0]
        print(json.dumps({"step": step, "loss": round(loss.item(), 5),
                          "mean_log_gate": round(g.mean().item(), 3),
                          "elapsed": round(time.time() - t0, 1)}), flush=True)
print("done")
