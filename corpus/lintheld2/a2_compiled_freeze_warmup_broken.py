"""Linear-probe warm-up: train only the head for the first steps, then everything."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

FREEZE_STEPS = 60
TOTAL_STEPS = 300
global_step = 0


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.encoder(x))


mx.random.seed(0)
net = Model()
opt = optim.Adam(learning_rate=2e-3)
state = [net.state, opt.state, mx.random.state]


def objective(model, x, y):
    return nn.losses.huber_loss(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(net, objective)


def _train_step_impl(x, y):
    loss, grads = grad_fn(net, x, y)
    if global_step < FREEZE_STEPS:
        grads["encoder"] = tree_map(mx.zeros_like, grads["encoder"])
    opt.update(net, grads)
    return loss


train_step = mx.compile(_train_step_impl, inputs=state, outputs=state)


def target(x):
    return mx.sin(2 * x[:, :1]) * mx.cos(x[:, 1:2]) + x[:, 2:3] ** 2


if __name__ == "__main__":
    x_all = mx.random.normal((4096, 10))
    y_all = target(x_all)
    enc0 = mx.array(net.encoder.layers[0].weight)
    while global_step < TOTAL_STEPS:
        i = (global_step * 64) % 4096
        loss = train_step(x_all[i : i + 64], y_all[i : i + 64])
        mx.eval(state)
        global_step += 1
        if global_step % 50 == 0:
            moved = mx.abs(net.encoder.layers[0].weight - enc0).max().item()
            print(f"step {global_step:3d} loss {loss.item():.4f} encoder moved {moved:.4f}")
