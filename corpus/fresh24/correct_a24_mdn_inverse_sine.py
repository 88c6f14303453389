"""Mixture density network on the classic inverse-sine problem (Bishop 1994).

Forward map y -> x is single valued, x = y + 0.3 sin(2 pi y) + noise; we learn
the INVERSE p(y | x), which has up to three branches, with a 5-component
Gaussian mixture head.  The NLL (nats) is the loss; it goes negative once the
components are sharp.  Progress is a text bar every 5% of the run.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(42)
NTRAIN, NVAL, M = 3000, 1000, 5


def make(n):
    y = mx.random.uniform(shape=(n, 1))
    x = y + 0.3 * mx.sin(2 * math.pi * y) + mx.random.uniform(-0.1, 0.1, (n, 1))
    return x, y


x_tr, y_tr = make(NTRAIN)
x_va, y_va = make(NVAL)


class MDN(nn.Module):
    def __init__(self, hidden=48, m=M):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, m)
        self.mu = nn.Linear(hidden, m)
        self.log_sigma = nn.Linear(hidden, m)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.mu(h), mx.clip(self.log_sigma(h), -7.0, 3.0)


def mdn_nll(model, x, y):
    logits, mu, log_sigma = model(x)
    log_pi = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    z = (y - mu) / mx.exp(log_sigma)
    log_comp = -0.5 * z * z - log_sigma - 0.5 * math.log(2 * math.pi)
    return -mx.mean(mx.logsumexp(log_pi + log_comp, axis=-1))


model = MDN()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=4e-3)
loss_and_grad = nn.value_and_grad(model, mdn_nll)

EPOCHS, BS = 60, 50
steps_per_epoch = NTRAIN // BS
total = EPOCHS * steps_per_epoch
report_every = total // 20
t0 = time.perf_counter()
step = 0
run = None
for epoch in range(EPOCHS):
    perm = mx.random.permutation(NTRAIN)
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if step % report_every == 0:
            val = mdn_nll(model, x_va, y_va).item()
            frac = step / total
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            print(f"[{bar}] {100 * frac:5.1f}%  ema nll {run:+.3f}  val nll {val:+.3f}  "
                  f"{time.perf_counter() - t0:5.1f}s", flush=True)

# sanity: at x = 0.5 the inverse has three branches; report the mixture means
logits, mu, log_sigma = model(mx.array([[0.5]]))
w = mx.softmax(logits, axis=-1)
order = mx.argsort(-w[0])
print("x=0.50 components (weight, mean, sd):",
      [(round(w[0, i].item(), 2), round(mu[0, i].item(), 3), round(math.exp(log_sigma[0, i].item()), 3))
       for i in order.tolist()])
