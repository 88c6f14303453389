"""Two-phase fine-tuning: the backbone is frozen for the first `freeze_steps`
updates (only the head trains), then everything trains. The step is compiled."""
from dataclasses import dataclass
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass
class Schedule:
    freeze_steps: int = 50
    total_steps: int = 400
    lr: float = 3e-3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        return self.head(self.backbone(x)).squeeze(-1)


def loader(batch=64):
    while True:
        x = mx.random.uniform(-2, 2, (batch, 6))
        y = mx.sin(2 * x[:, 0]) * mx.cos(x[:, 1]) + x[:, 2] * x[:, 3]
        yield x, y


class FineTuner:
    def __init__(self, net, sched):
        self.net, self.sched = net, sched
        self.opt = optim.Adam(learning_rate=sched.lr)
        self.global_step = 0
        self._vg = nn.value_and_grad(net, lambda x, y: nn.losses.mse_loss(net(x), y))
        state = [net.state, self.opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def _step(x, y, frozen):
            loss, grads = self._vg(x, y)
            if frozen:
                grads["backbone"] = tree_map(mx.zeros_like, grads["backbone"])
            self.opt.update(self.net, grads)
            return loss

        self._step = _step

    def train(self):
        bb0 = self.net.backbone.layers[0].weight
        for x, y in loader():
            loss = self._step(x, y, self.global_step < self.sched.freeze_steps)
            mx.eval(loss, self.net.state, self.opt.state)
            self.global_step += 1
            if self.global_step % 50 == 0:
                moved = mx.max(mx.abs(self.net.backbone.layers[0].weight - bb0)).item()
                print(f"step {self.global_step:4d} loss {loss.item():.4f} backbone moved {moved:.4f}")
            if self.global_step >= self.sched.total_steps:
                break


if __name__ == "__main__":
    mx.random.seed(8)
    FineTuner(Net(), Schedule()).train()
