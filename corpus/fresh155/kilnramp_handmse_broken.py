# Kiln ramp regression: predict peak chamber temperature from burner settings.
# The loss is written by hand (forward + backward), the way our little
# autograd layer does it, and plugged into MLX through mx.custom_function.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N_FEAT = 6
N_TRAIN = 512
BATCH = 128

# synthetic kiln log: temperature (scaled, /1000 C) is a smooth function of settings
w_true = mx.random.normal((N_FEAT, 1)) * 0.5
X = mx.random.uniform(-1.0, 1.0, (N_TRAIN, N_FEAT))
Y = mx.tanh(X @ w_true) + 0.3 * mx.sin(2.0 * X[:, :1]) + 0.02 * mx.random.normal((N_TRAIN, 1))


@mx.custom_function
def mean_squared_loss(y_pred, y_true):
    return mx.mean(mx.square(y_pred - y_true))


@mean_squared_loss.vjp
def mean_squared_loss_vjp(primals, cotangent, output):
    y_pred, y_true = primals
    # dL/dy_pred for L = mean((y_pred - y_true)^2)
    g = 2 * (y_pred - y_true) * cotangent
    return g, mx.zeros_like(y_true)


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


model = KilnNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, xb, yb):
    return mean_squared_loss(m(xb), yb)


step = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for epoch in range(1, 41):
    perm = mx.random.permutation(N_TRAIN)
    tot = 0.0
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = step(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 4 == 0 or epoch == 1:
        full = mx.mean(mx.square(model(X) - Y)).item()
        print(f"epoch {epoch:3d} | train mse {tot / (N_TRAIN // BATCH):.5f} | full-set mse {full:.5f}")
print(f"done in {time.time() - t0:.1f}s")
