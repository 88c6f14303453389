"""Train 'until good enough': a while loop with no fixed number of epochs.
Every 25 steps the model is scored on a held-out split; training stops by
itself as soon as held-out accuracy has been >= 0.96 on two consecutive
checks (or after a hard cap of 6000 steps)."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def moons(n, noise=0.12, seed=0):
    mx.random.seed(seed)
    t = mx.random.uniform(0.0, 3.14159, (n,))
    lab = mx.random.randint(0, 2, (n,))
    upper = mx.stack([mx.cos(t), mx.sin(t)], axis=1)
    lower = mx.stack([1.0 - mx.cos(t), 0.5 - mx.sin(t)], axis=1)
    x = mx.where(lab[:, None] == 1, lower, upper) + noise * mx.random.normal((n, 2))
    return x, lab


class Runner:
    def __init__(self):
        self.model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
        mx.eval(self.model.parameters())
        self.opt = optim.Adam(learning_rate=3e-4)
        self.vg = nn.value_and_grad(self.model, self.loss)

    def loss(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def train_step(self, x, y):
        loss, grads = self.vg(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()

    def accuracy(self, x, y):
        return (mx.argmax(self.model(x), axis=1) == y).mean().item()


def main():
    x, y = moons(2000)
    xtr, ytr, xte, yte = x[:1600], y[:1600], x[1600:], y[1600:]
    r = Runner()
    step, hits, recent = 0, 0, []
    t0 = time.time()
    while hits < 2 and step < 6000:
        idx = mx.random.randint(0, xtr.shape[0], (16,))
        recent.append(r.train_step(xtr[idx], ytr[idx]))
        step += 1
        if step % 25 == 0:
            acc = r.accuracy(xte, yte)
            hits = hits + 1 if acc >= 0.96 else 0
            print(f"[{step:05d}] loss={sum(recent) / len(recent):.4f} heldout_acc={acc:.3f}")
            recent = []
    print(f"stopped after {step} steps ({time.time() - t0:.1f}s), target reached: {hits >= 2}")


if __name__ == "__main__":
    main()
