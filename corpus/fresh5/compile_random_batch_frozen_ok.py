# Blob classifier: the whole train step (batch sampling included) is compiled.
from functools import partial
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
N_CLASSES, DIM, N = 8, 6, 2048
centers = mx.random.normal((N_CLASSES, DIM)) * 2.0
labels = mx.random.randint(0, N_CLASSES, (N,))
X = centers[labels] + 0.8 * mx.random.normal((N, DIM))
Y = labels
mx.eval(X, Y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 32)
        self.l2 = nn.Linear(32, N_CLASSES)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


model = Net()
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step():
    idx = mx.random.randint(0, N, (16,))          # sample a minibatch on device
    loss, grads = nn.value_and_grad(model, loss_fn)(model, X[idx], Y[idx])
    opt.update(model, grads)
    return loss


t0 = time.time()
for epoch in range(1, 13):
    for _ in range(40):
        train_step()
        mx.eval(state)
    full_loss = loss_fn(model, X, Y)
    acc = mx.mean(mx.argmax(model(X), axis=1) == Y)
    print(f"epoch {epoch:2d} | full-set nll {full_loss.item():.4f} | acc {acc.item():.3f}")
print(f"done in {time.time() - t0:.1f}s")
