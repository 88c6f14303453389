# Tiny "gated decay" sequence mixer (linear-attention style) trained to
# reproduce a leaky running average of a noisy signal.
# y_t = sum_{j<=t} exp(G_t - G_j) * v_j,  G = cumsum(log-decay)
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
T, B, D = 96, 16, 8


class DecayMixer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gate = nn.Linear(d, 1)
        self.val = nn.Linear(d, d)
        self.out = nn.Linear(d, 1)
        self.gate.bias = mx.array([1.5])  # start with a fairly fast decay

    def __call__(self, x):
        g_log = -nn.softplus(self.gate(x))[..., 0]          # (B,T)  <= 0
        gcum = mx.cumsum(g_log, axis=1)                      # non-increasing
        causal = mx.tril(mx.ones((T, T))).astype(mx.bool_)  # j <= i
        diff = gcum[:, :, None] - gcum[:, None, :]           # (B,T,T)
        decay = mx.exp(mx.where(causal, diff, 0.0)) * causal
        h = decay @ self.val(x)                              # (B,T,D)
        return self.out(h)[..., 0]


def make_batch():
    x = mx.random.normal((B, T, D))
    s = x[..., 0]
    ys = []
    acc = mx.zeros((B,))
    for t in range(T):
        acc = 0.8 * acc + s[:, t]
        ys.append(acc)
    return x, mx.stack(ys, axis=1)


model = DecayMixer(D)
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(301):
    x, y = make_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(f"step {step:4d} | mse {loss.item():.5f} | {time.time()-t0:5.1f}s")
print("done")
