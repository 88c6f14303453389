"""Fine-tune only the head of a 'pretrained' MLP; the backbone should stay fixed."""
from dataclasses import dataclass, field
from functools import partial

import mlx.core as mx
import mlx.nn as mnn
from mlx.optimizers import AdamW
from mlx.utils import tree_flatten


@dataclass
class FinetuneConfig:
    lr: float = 1e-2
    weight_decay: float = 0.1
    steps: int = 200
    batch_size: int = 64
    frozen: tuple = field(default_factory=lambda: ("backbone",))


class Net(mnn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = mnn.Sequential(mnn.Linear(16, 32), mnn.ReLU(), mnn.Linear(32, 32), mnn.ReLU())
        self.head = mnn.Linear(32, 4)

    def __call__(self, x):
        return self.head(self.backbone(x))


def snapshot(module):
    return {k: mx.array(v) for k, v in tree_flatten(module.parameters())}


def drift(before, module):
    now = dict(tree_flatten(module.parameters()))
    num = sum(mx.sum((now[k] - before[k]) ** 2).item() for k in before)
    den = sum(mx.sum(before[k] ** 2).item() for k in before)
    return (num / den) ** 0.5


if __name__ == "__main__":
    cfg = FinetuneConfig()
    mx.random.seed(3)
    net = Net()
    # pretend the backbone was pretrained: keep a copy to check it stays put
    ref_backbone = snapshot(net.backbone)

    x = mx.random.normal((1024, 16))
    y = mx.argmax(x[:, :4] + 0.3 * x[:, 4:8], axis=1)

    opt = AdamW(learning_rate=cfg.lr, weight_decay=cfg.weight_decay)
    for name in cfg.frozen:
        getattr(net, name).freeze()

    def objective(model, xb, yb):
        return mnn.losses.cross_entropy(model(xb), yb, reduction="mean")

    value_and_grad = mnn.value_and_grad(net, objective)
    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = value_and_grad(net, xb, yb)
        opt.update(net, grads)
        return loss

    for it in range(cfg.steps):
        idx = mx.random.randint(0, x.shape[0], (cfg.batch_size,))
        loss = train_step(x[idx], y[idx])
        mx.eval(state, loss)
        if it % 50 == 0:
            print(f"it {it:3d} loss {loss.item():.4f}")

    acc = mx.mean(mx.argmax(net(x), axis=1) == y).item()
    print(f"acc {acc:.3f}  backbone relative drift {drift(ref_backbone, net.backbone):.4f} (should be 0)")
