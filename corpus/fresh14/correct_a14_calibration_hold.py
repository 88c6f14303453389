"""Two-phase run: the first 150 iterations only calibrate running input statistics
(mean/var per feature, the model is deliberately not updated), then normal Adam
training on standardised inputs.  Table output."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
D = 8
scales = mx.array([1.0, 50.0, 0.02, 300.0, 5.0, 1.0, 0.1, 20.0])
offsets = mx.array([0.0, 200.0, -1.0, 1e3, 3.0, -2.0, 0.5, 40.0])
w = mx.random.normal((D, 1)) * 0.35


def batch(bs=128):
    z = mx.random.normal((bs, D))
    x = z * scales + offsets
    y = mx.sin(z @ w) + 0.1 * z[:, :1] ** 2
    return x, y


model = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
mu = mx.zeros((D,))
var = mx.ones((D,))
CALIB, TOTAL = 150, 900


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
print(f"| {'iter':>5} | {'phase':>6} | {'mse':>9} |")
print("|-------|--------|-----------|")
for it in range(1, TOTAL + 1):
    x, y = batch()
    if it <= CALIB:
        m = 0.05
        mu = (1 - m) * mu + m * x.mean(axis=0)
        var = (1 - m) * var + m * x.var(axis=0)
        xs = (x - mu) / mx.sqrt(var + 1e-5)
        loss = loss_fn(model, xs, y)      # monitored only
        mx.eval(mu, var, loss)
        phase = "calib"
    else:
        xs = (x - mu) / mx.sqrt(var + 1e-5)
        loss, grads = vg(model, xs, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        phase = "train"
    if it % 50 == 0:
        print(f"| {it:>5} | {phase:>6} | {loss.item():>9.5f} |")
