"""Compiled train step whose branch reads a frozen config flag (label smoothing
on/off) captured from the enclosing scope; the step counter lives outside."""
from dataclasses import dataclass
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass(frozen=True)
class Hyper:
    label_smoothing: float = 0.1
    n_classes: int = 5
    steps: int = 300


HP = Hyper()


def main():
    mx.random.seed(10)
    proto = mx.random.normal((HP.n_classes, 8)) * 2
    clf = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, HP.n_classes))
    opt = optim.AdamW(learning_rate=3e-3)

    def objective(x, y):
        logits = clf(x)
        if HP.label_smoothing > 0:
            return nn.losses.cross_entropy(logits, y, label_smoothing=HP.label_smoothing, reduction="mean")
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    vg = nn.value_and_grad(clf, objective)
    state = [clf.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = vg(x, y)
        opt.update(clf, grads)
        return loss

    step = 0
    while step < HP.steps:
        y = mx.random.randint(0, HP.n_classes, (64,))
        x = proto[y] + mx.random.normal((64, 8))
        loss = train_step(x, y)
        mx.eval(loss, state)
        step += 1
        if step % 60 == 0:
            acc = mx.mean(mx.argmax(clf(x), axis=1) == y).item()
            print(f"step {step:3d} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
