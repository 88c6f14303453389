"""Online regression on a synthetic sensor stream. Each minibatch is synthesised
(noise + random gain) on a side stream so it can overlap with the training step."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(9)
D = 8
w_true = mx.random.normal((D, 1))
data_stream = mx.new_stream(mx.cpu)


def make_batch(bs=32):
    with mx.stream(data_stream):                # side stream for data synthesis
        x = mx.random.normal((bs, D)) * mx.random.uniform(0.8, 1.2, (bs, 1))
        y = mx.tanh(x @ w_true) + 0.05 * mx.random.normal((bs, 1))
        mx.eval(x, y)
    return x, y


model = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 1))
opt = optim.SGD(learning_rate=0.05)
step_fn = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

ema = None
for step in range(1, 8001):
    x, y = make_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    if step % 500 == 0:
        print(f"step {step:5d}  loss(ema) {ema:.5f}", flush=True)
