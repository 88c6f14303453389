# Heron nest-watch: will a nest fledge? Small MLP with dropout, compiled train step
# (pattern from a grokking trainer: state captured by mx.compile).
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
rng = np.random.default_rng(7)

N_FEAT = 32
w_true = rng.normal(size=(N_FEAT,))


def survey(n):
    X = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    y = (X @ w_true + 0.5 * rng.normal(size=n) > 0).astype(np.int32)
    return mx.array(X), mx.array(y)


X_train, y_train = survey(384)
X_val, y_val = survey(1000)


class NestNet(nn.Module):
    def __init__(self, d_in, hidden=512, p=0.5):
        super().__init__()
        self.drop_in = nn.Dropout(p)
        self.fc1 = nn.Linear(d_in, hidden)
        self.drop_h = nn.Dropout(p)
        self.fc2 = nn.Linear(hidden, 2)

    def __call__(self, x):
        return self.fc2(self.drop_h(nn.relu(self.fc1(self.drop_in(x)))))


class Trainer:
    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer

    def eval_fn(self, X, T):
        Y = self.model(X)
        loss = nn.losses.cross_entropy(Y, T, reduction="mean")
        correct = mx.sum(mx.argmax(Y, axis=1) == T)
        return loss, correct

    def evaluate(self, X, T):
        self.model.eval()
        loss, correct = self.eval_fn(X, T)
        return loss.item(), correct.item() / X.shape[0]

    def train(self, epochs):
        state = [self.model.state, self.optimizer.state, mx.random.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(X, T):
            fn = nn.value_and_grad(self.model, self.eval_fn)
            (loss, correct), grads = fn(X, T)
            self.optimizer.update(self.model, grads)
            return loss, correct

        for epoch in range(1, epochs + 1):
            self.model.train()
            loss, correct = step(X_train, y_train)
            mx.eval(state, loss, correct)
            if epoch % 100 == 0:
                tr_loss, tr_acc = loss.item(), correct.item() / X_train.shape[0]
                full_loss, full_acc = self.evaluate(X_train, y_train)
                va_loss, va_acc = self.evaluate(X_val, y_val)
                print(f"epoch {epoch:4d} | train_loss {tr_loss:.4f} train_acc {tr_acc:.3f} "
                      f"| train_eval_loss {full_loss:.4f} train_eval_acc {full_acc:.3f} "
                      f"| val_loss {va_loss:.4f} val_acc {va_acc:.3f}")


t0 = time.time()
model = NestNet(N_FEAT)
trainer = Trainer(model, optim.Adam(learning_rate=3e-4))
trainer.train(epochs=800)
print(f"done in {time.time() - t0:.1f}s")
