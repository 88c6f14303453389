# Harbor water-level forecaster: GRU over one long stream, truncated BPTT with the
# hidden state carried across windows, Gaussian NLL head (NLL may go negative),
# linear warmup from lr 0, mid-run checkpoint and resume.
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
rng = np.random.default_rng(3)

T_TOTAL, WINDOW, STREAMS = 6000, 25, 16
t = np.arange(T_TOTAL + 1)[None, :]
phase = rng.uniform(0, 2 * np.pi, (STREAMS, 1))
level = (np.sin(2 * np.pi * t / 50 + phase) + 0.5 * np.sin(2 * np.pi * t / 13 + 2 * phase)
         + 0.1 * rng.standard_normal((STREAMS, T_TOTAL + 1))).astype(np.float32)
X = mx.array(level[:, :-1, None])
Y = mx.array(level[:, 1:, None])
NOISE_NLL = 0.5 * np.log(2 * np.pi * 0.1 ** 2) + 0.5   # floor for a perfect predictor


class Pilot(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x, h):
        hs = self.gru(x, hidden=h)
        out = self.head(hs)
        return out[..., :1], out[..., 1:], hs[:, -1]


def nll(model, x, y, h):
    mu, logvar, h_last = model(x, h)
    logvar = mx.clip(logvar, -8.0, 4.0)
    loss = 0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + np.log(2 * np.pi))
    return loss.mean(), h_last


def run(model, opt, epochs, start_epoch, total_steps):
    grad_fn = nn.value_and_grad(model, lambda m, x, y, h: nll(m, x, y, h)[0])
    for ep in range(start_epoch, start_epoch + epochs):
        h = mx.zeros((STREAMS, 32))            # new pass over the stream: fresh state
        tot, n = 0.0, 0
        for s in range(0, T_TOTAL, WINDOW):
            x, y = X[:, s:s + WINDOW], Y[:, s:s + WINDOW]
            loss, grads = grad_fn(model, x, y, h)
            _, _, h = model(x, h)
            h = mx.stop_gradient(h)           # carry state, cut the graph
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, h, loss)
            tot += loss.item(); n += 1
        persist = mx.mean((Y - X) ** 2).item()
        mu, _, _ = model(X[:, :500], mx.zeros((STREAMS, 32)))
        mse = mx.mean((mu - Y[:, :500]) ** 2).item()
        print(f"epoch {ep}  nll {tot / n:+.4f} (noise floor {NOISE_NLL:+.3f})  "
              f"mse {mse:.4f}  persistence-baseline mse {persist:.4f}  lr {opt.learning_rate.item():.2e}")


warm = optim.linear_schedule(0.0, 3e-3, 100)
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 1200, 1e-4)], [100])
model = Pilot()
opt = optim.Adam(learning_rate=sched)
t0 = time.time()
run(model, opt, 2, 1, 0)
ckpt = os.path.join(tempfile.mkdtemp(), "pilot.safetensors")
model.save_weights(ckpt)
print(f"checkpoint written after epoch 2 ({time.time() - t0:.1f}s); resuming in a new process-like setup")
model2 = Pilot()
model2.load_weights(ckpt)
opt2 = optim.Adam(learning_rate=sched)
opt2.init(model2.trainable_parameters())
opt2.state["step"] = opt.state["step"]
run(model2, opt2, 3, 3, 0)
print(f"done in {time.time() - t0:.1f}s")
