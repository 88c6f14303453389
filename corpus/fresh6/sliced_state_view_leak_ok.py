# Causal sequence encoder (running-mean token mixing) trained to forecast the
# next value of noisy sine waves. The last-step embedding of every training batch is kept so a
# kNN probe can be built after training.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)

B, T, D = 8, 256, 64
STEPS = 260


def make_batch():
    freq = mx.random.uniform(0.02, 0.2, (B, 1))
    phase = mx.random.uniform(0, 2 * math.pi, (B, 1))
    t = mx.arange(T + 1)[None, :]
    s = mx.sin(freq * t + phase) + 0.05 * mx.random.normal((B, T + 1))
    return s[:, :-1, None], s[:, 1:, None], freq


class CausalEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, D)
        self.mix1 = nn.Linear(2 * D, D)
        self.mix2 = nn.Linear(2 * D, D)
        self.out = nn.Linear(D, 1)

    def causal(self, lin, h):
        run_mean = mx.cumsum(h, axis=1) / mx.arange(1, h.shape[1] + 1)[None, :, None]
        return nn.silu(lin(mx.concatenate([h, run_mean], axis=-1)))

    def __call__(self, x):
        prev = mx.pad(x[:, :-1], [(0, 0), (1, 0), (0, 0)])
        h = self.inp(mx.concatenate([x, x - prev], axis=-1))
        h = h + self.causal(self.mix1, h)
        h = h + self.causal(self.mix2, h)
        return self.out(h), h


class Trainer:
    def __init__(self):
        self.model = CausalEncoder()
        mx.eval(self.model.parameters())
        self.opt = optim.Adam(learning_rate=1e-3)
        self.vg = nn.value_and_grad(self.model, self.loss_fn)
        self.bank, self.bank_freq = [], []

    def loss_fn(self, model, x, y):
        pred, h = model(x)
        return nn.losses.mse_loss(pred, y), h

    def train_step(self, x, y, freq):
        (loss, h), grads = self.vg(self.model, x, y)
        self.opt.update(self.model, grads)
        emb = mx.contiguous(mx.stop_gradient(h[:, -1, :]))
        mx.eval(self.model.parameters(), self.opt.state, loss, emb)
        self.bank.append(emb)
        self.bank_freq.append(freq)
        return loss.item()


trainer = Trainer()
t0 = time.time()
avg = None
for step in range(1, STEPS + 1):
    x, y, freq = make_batch()
    loss = trainer.train_step(x, y, freq)
    avg = loss if avg is None else 0.9 * avg + 0.1 * loss
    if step % 50 == 0:
        print(f"step {step:4d}/{STEPS}  mse {avg:.5f}  bank {len(trainer.bank) * B} emb  {time.time() - t0:.1f}s")

# kNN probe: predict the frequency of held-out waves from the bank
bank = mx.concatenate(trainer.bank)
bank_f = mx.concatenate(trainer.bank_freq)
x, y, f = make_batch()
_, h = trainer.model(x)
q = h[:, -1, :]
d = ((q[:, None, :] - bank[None, :, :]) ** 2).sum(-1)
nn_f = bank_f[mx.argmin(d, axis=1)]
print(f"kNN probe: mean |freq error| = {mx.abs(nn_f - f).mean().item():.4f}")
