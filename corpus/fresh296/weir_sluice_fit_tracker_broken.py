# Sluice-gate flow regime (free / transitional / submerged) from weir gauge readings.
# Small Keras-style fit() loop written directly on MLX.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D = 25600, 4000, 16


def make_split(n):
    up = rng.uniform(0.4, 3.0, n)            # upstream head (m)
    gate = rng.uniform(0.05, 1.2, n)         # gate opening (m)
    down = up * rng.uniform(0.1, 1.0, n)     # tailwater depth (m)
    ratio = (down - gate) / (up - gate + 1e-3)
    y = np.where(ratio < 0.35, 0, np.where(ratio < 0.7, 1, 2))
    extra = rng.normal(0, 1, (n, D - 4))
    x = np.column_stack([up, gate, down, up / (gate + 0.1), extra]).astype(np.float32)
    x[:, :4] += rng.normal(0, 0.03, (n, 4)).astype(np.float32)
    return x, y.astype(np.int32)


xtr, ytr = make_split(N_TRAIN)
xva, yva = make_split(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


class Mean:
    def __init__(self):
        self.total = mx.array(0.0)
        self.count = mx.array(0.0)

    @property
    def variables(self):
        return [self.total, self.count]

    def update_state(self, v, n):
        self.total = self.total + v * n
        self.count = self.count + n

    def result(self):
        return (self.total / mx.maximum(self.count, 1.0)).item()

    def reset(self):
        self.total = mx.array(0.0)
        self.count = mx.array(0.0)


class Accuracy(Mean):
    def update_batch(self, logits, y):
        self.update_state(mx.mean(mx.argmax(logits, axis=-1) == y), y.shape[0])


class GateNet(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        self.l1 = nn.Linear(D, width)
        self.bn1 = nn.BatchNorm(width)
        self.l2 = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm(width)
        self.out = nn.Linear(width, 3)

    def __call__(self, x):
        h = nn.relu(self.bn1(self.l1(x)))
        h = nn.relu(self.bn2(self.l2(h)))
        return self.out(h)


class Trainer:
    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_tracker = Mean()
        self.acc = Accuracy()
        self.metrics = [self.loss_tracker, self.acc]
        self.grad_fn = nn.value_and_grad(model, self._loss)

    def _loss(self, x, y):
        logits = self.model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean"), logits

    def train_step(self, x, y):
        (loss, logits), grads = self.grad_fn(x, y)
        self.loss_tracker.update_state(loss, x.shape[0])
        self.acc.update_batch(logits, y)
        self.optimizer.update(self.model, grads)
        mx.eval([v for _, v in tree_flatten(self.model.trainable_parameters())] + [loss])
        return loss

    def test_step(self, x, y):
        logits = self.model(x)
        loss = nn.losses.cross_entropy(logits, y, reduction="mean")
        self.loss_tracker.update_state(loss, x.shape[0])
        self.acc.update_batch(logits, y)

    def fit(self, x, y, epochs, batch_size, validation_data, log_every=25):
        steps = x.shape[0] // batch_size
        step = 0
        for epoch in range(1, epochs + 1):
            self.model.train()
            for m in self.metrics:
                m.reset()
            perm = rng.permutation(x.shape[0])
            t0 = time.perf_counter()
            for i in range(steps):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                self.train_step(mx.array(x[idx]), mx.array(y[idx]))
                step += 1
                if step % log_every == 0:
                    print(f"step {step:4d}  loss {self.loss_tracker.result():.4f}  "
                          f"acc {self.acc.result():.3f}  active_mem {mx.get_active_memory() / 2**20:7.1f} MB",
                          flush=True)
            tr_loss, tr_acc = self.loss_tracker.result(), self.acc.result()
            print(f"Epoch {epoch}/{epochs} - {time.perf_counter() - t0:.1f}s - loss: {tr_loss:.4f} - acc: {tr_acc:.3f}",
                  flush=True)
        self.model.eval()
        for m in self.metrics:
            m.reset()
        xv, yv = validation_data
        for i in range(0, xv.shape[0], batch_size):
            self.test_step(mx.array(xv[i:i + batch_size]), mx.array(yv[i:i + batch_size]))
        print(f"val_loss: {self.loss_tracker.result():.4f} - val_acc: {self.acc.result():.3f}")


mx.random.seed(0)
model = GateNet()
trainer = Trainer(model, optim.Adam(learning_rate=1e-3))
trainer.fit(xtr, ytr, epochs=3, batch_size=256, validation_data=(xva, yva))
print(f"peak_mem {mx.get_peak_memory() / 2**20:.1f} MB")
