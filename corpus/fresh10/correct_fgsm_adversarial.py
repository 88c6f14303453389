"""FGSM adversarial training of a small classifier on two interleaved spirals.

Every batch is replaced by its FGSM perturbation before the update, so the
training (adversarial) loss stays high by design; clean accuracy is the
metric that should climb.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def spirals(n, noise, seed):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * math.pi
    cls = rng.integers(0, 2, size=n)
    sign = np.where(cls == 0, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / 10.0
    x += noise * rng.normal(size=x.shape)
    return x.astype(np.float32), cls.astype(np.int32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 2)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(1)
    xtr, ytr = spirals(4000, 0.03, 0)
    xte, yte = spirals(1000, 0.03, 1)
    xte_m, yte_m = mx.array(xte), mx.array(yte)
    model = Net()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    train_grad = nn.value_and_grad(model, ce)
    input_grad = mx.grad(lambda x, y: ce(model, x, y))
    eps = 0.08

    rng = np.random.default_rng(2)
    bs = 128
    for epoch in range(1, 31):
        perm = rng.permutation(len(xtr))
        adv_sum, nb = 0.0, 0
        for i in range(0, len(xtr) - bs + 1, bs):
            idx = perm[i:i + bs]
            xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
            x_adv = mx.stop_gradient(xb + eps * mx.sign(input_grad(xb, yb)))
            loss, grads = train_grad(model, x_adv, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            adv_sum += loss.item()
            nb += 1
        if epoch % 3 == 0:
            clean_acc = (mx.argmax(model(xte_m), axis=1) == yte_m).mean().item()
            print(f"epoch {epoch:2d}  adv_loss={adv_sum / nb:.4f}  clean_acc={clean_acc:.3f}")


if __name__ == "__main__":
    main()
