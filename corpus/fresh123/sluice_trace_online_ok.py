# Online (streaming) forecaster for a sluice-gate flow sensor.
# A small recurrent cell keeps its own hidden state and a decaying input
# trace; both are advanced by hand after every step (truncated BPTT of 1).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
D_IN, D_H = 3, 16


def make_stream(n, seed):
    key = mx.random.key(seed)
    x = mx.random.normal((n, D_IN), key=key)
    # target: leaky integral of the first channel plus a slow sine of channel 2
    ys, acc = [], 0.0
    xs = x.tolist()
    for t in range(n):
        acc = 0.8 * acc + xs[t][0]
        ys.append(0.5 * acc + 0.3 * math.sin(xs[t][1]))
    return x, mx.array(ys)


class TraceCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, D_H)
        self.rec = nn.Linear(D_H, D_H, bias=False)
        self.out = nn.Linear(2 * D_H, 1)
        self.decay = mx.array([0.0])  # learned, squashed by sigmoid
        self.states = mx.zeros((D_H,))
        self.trace = mx.zeros((D_H,))
        # memory is advanced by hand, never by the optimizer
        self.freeze(keys=["states", "trace"], recurse=False)

    def __call__(self, x):
        a = mx.sigmoid(self.decay)
        u = self.inp(x)
        h = mx.tanh(u + self.rec(self.states))
        tr = a * self.trace + (1 - a) * u
        y = self.out(mx.concatenate([h, tr]))
        return y[0], h, tr


def loss_fn(model, x, y):
    pred, h, tr = model(x)
    return (pred - y) ** 2, (h, tr)


model = TraceCell()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

X, Y = make_stream(3000, 1)
running = None
worst_gap = 0.0
for t in range(X.shape[0]):
    (loss, (h, tr)), grads = step_fn(model, X[t], Y[t])
    # advance the recurrent memory by hand
    model.states = mx.stop_gradient(h)
    model.trace = mx.stop_gradient(tr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    # memory audit: the carried memory must be exactly what the cell produced
    gap = max(mx.abs(model.states - h).max().item(), mx.abs(model.trace - tr).max().item())
    worst_gap = max(worst_gap, gap)
    running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
    if (t + 1) % 300 == 0:
        print(f"t={t+1:5d} ewma_sq_err={running:.4f} decay={mx.sigmoid(model.decay).item():.3f} mem_gap={worst_gap:.2e}")
        worst_gap = 0.0

# held-out stream, frozen weights, memory advanced only by the cell
Xv, Yv = make_stream(600, 2)
model.states = mx.zeros((D_H,))
model.trace = mx.zeros((D_H,))
err = 0.0
for t in range(Xv.shape[0]):
    p, h, tr = model(Xv[t])
    model.states, model.trace = h, tr
    err += ((p - Yv[t]) ** 2).item()
print(f"held-out mse={err / Xv.shape[0]:.4f} (predict-zero baseline {mx.mean(Yv**2).item():.4f})")
