# toy "voice conversion" synthesizer: content features -> latent z = m + sqrt(var) * eps
# (posterior sample, variance starts at 0 = deterministic) -> 64-sample frames,
# trained with a waveform L1 + log-magnitude spectral loss, Adam + clip_grad_norm(1.0).
import time
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
B, T, F, N, Z = 16, 12, 24, 64, 32
NBIN = 17

n = mx.arange(N).astype(mx.float32)
k = mx.arange(NBIN).astype(mx.float32)
ang = 2 * math.pi * n[:, None] * k[None, :] / N
COS, SIN = mx.cos(ang), -mx.sin(ang)

W_true = mx.random.normal((F, N)) * 0.3

def make_batch():
    c = mx.random.normal((B, T, F))
    y = mx.tanh(c @ W_true)
    return c, y

class Synth(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(F, 128)
        self.m = nn.Linear(128, Z)
        self.post_var = mx.zeros((Z,))          # learned posterior variance, starts deterministic
        self.dec1 = nn.Linear(Z, 128)
        self.dec2 = nn.Linear(128, N)
    def __call__(self, c):
        h = nn.leaky_relu(self.enc(c), 0.1)
        m = self.m(h)
        z = m + mx.sqrt(self.post_var) * mx.random.normal(m.shape)
        h = nn.leaky_relu(self.dec1(z), 0.1)
        return mx.tanh(self.dec2(h))

def log_mag(x):
    re, im = x @ COS, x @ SIN
    return mx.log(mx.sqrt(re * re + im * im) + 1e-5)

def loss_fn(model, c, y):
    y_hat = model(c)
    wav = mx.mean(mx.abs(y_hat - y))
    spec = mx.mean(mx.abs(log_mag(y_hat) - log_mag(y)))
    return wav * 10.0 + spec

model = Synth()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3, betas=[0.8, 0.99])
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for step in range(1, 401):
    c, y = make_batch()
    loss, grads = step_fn(model, c, y)
    grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
    opt.update(model, grads)
    model.post_var = mx.maximum(model.post_var, 0.0)   # keep the variance non-negative
    mx.eval(model.parameters(), opt.state, loss, gnorm)
    if step == 1 or step % 40 == 0:
        print(f"step {step:4d}  loss {loss.item():8.4f}  grad_norm {gnorm.item():10.4f}  ({time.time()-t0:.1f}s)")
print("done")
