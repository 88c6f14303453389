# Double-buffered training loop: mx.async_eval launches step t while the host
# prepares batch t+1; the loss that gets logged is the one from the previous step.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1)
W_true = rng.normal(size=(20, 3)).astype(np.float32)


def make_batch(n=128):
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = np.tanh(x @ W_true) + 0.05 * rng.normal(size=(n, 3)).astype(np.float32)
    return mx.array(x), mx.array(y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(20, 64)
        self.b = nn.Linear(64, 3)

    def __call__(self, x):
        return self.b(nn.silu(self.a(x)))


model = Net()
opt = optim.Adam(learning_rate=3e-3)
state = [model.state, opt.state]


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)


def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss


mx.eval(model.parameters())
t0 = time.time()
prev = None
x, y = make_batch()
for it in range(1, 1201):
    loss = step(x, y)
    mx.async_eval(state, loss)          # start computing step `it`
    x, y = make_batch()                 # host work overlaps with it
    if prev is not None and (it - 1) % 100 == 0:
        print(f"it {it-1:5d} | mse {prev.item():.5f} | {time.time()-t0:5.2f}s")
    prev = loss
mx.eval(prev)
print(f"final mse {prev.item():.5f}")
