"""10-class classifier, data kept on device and minibatches drawn inside a
compiled train step (no host round-trip per step)."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TRAIN, N_VAL, DIM, CLASSES, BS = 6000, 1000, 20, 10, 32


def make_data():
    mx.random.seed(42)
    centers = 2.0 * mx.random.normal((CLASSES * 3, DIM))  # 3 blobs per class
    def draw(n):
        comp = mx.random.randint(0, CLASSES * 3, (n,))
        x = centers[comp] + 1.2 * mx.random.normal((n, DIM))
        return x, (comp % CLASSES).astype(mx.int32)
    return draw(N_TRAIN), draw(N_VAL)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DIM, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                                 nn.Linear(128, CLASSES))

    def __call__(self, x):
        return self.net(x)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    (xtr, ytr), (xva, yva) = make_data()
    model = Classifier()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_and_grad = nn.value_and_grad(model, ce)

    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x_all, y_all):
        idx = mx.random.randint(0, x_all.shape[0], (BS,))
        loss, grads = loss_and_grad(model, x_all[idx], y_all[idx])
        optimizer.update(model, grads)
        return loss

    for it in range(1, 1501):
        loss = train_step(xtr, ytr)
        mx.eval(state, loss)
        if it % 150 == 0:
            full = ce(model, xtr, ytr).item()
            acc = (mx.argmax(model(xva), axis=-1) == yva).mean().item()
            print({"iter": it, "batch_loss": round(loss.item(), 4), "train_loss": round(full, 4),
                   "val_acc": round(acc, 4)})


if __name__ == "__main__":
    main()
