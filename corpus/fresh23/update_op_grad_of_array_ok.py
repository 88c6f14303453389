# Estimator-style training of a small MLP classifier on synthetic 4-class
# "digits" (flattened 7x7 glyphs): pipeline of ops, progress bar per epoch.
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
glyphs = (rng.random((4, 49)) > 0.55).astype(np.float32)


def load_data(n):
    y = rng.integers(0, 4, size=n)
    x = glyphs[y] + 0.6 * rng.standard_normal((n, 49)).astype(np.float32)
    return {"x": x.astype(np.float32), "y": y.astype(np.int32)}


train, test = load_data(5000), load_data(1000)


class LeNetMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(49, 64)
        self.l2 = nn.Linear(64, 32)
        self.l3 = nn.Linear(32, 4)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


class ModelOp:
    def __init__(self, model, inputs, outputs):
        self.model, self.inputs, self.outputs = model, inputs, outputs

    def forward(self, batch, state):
        batch[self.outputs] = self.model(batch[self.inputs])


class CrossEntropyOp:
    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs

    def forward(self, batch, state):
        pred, y = (batch[k] for k in self.inputs)
        batch[self.outputs] = mx.mean(nn.losses.cross_entropy(pred, y))


class UpdateOp:
    def __init__(self, model, loss_name):
        self.model, self.loss_name = model, loss_name

    def forward(self, batch, state):
        if state["mode"] != "train":
            return
        x, y = batch["x"], batch["y"]

        def loss_fn(model):
            return mx.mean(nn.losses.cross_entropy(model(x), y))

        loss, grads = nn.value_and_grad(self.model, loss_fn)(self.model)
        batch[self.loss_name] = loss
        self.model.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.model.optimizer.state)


model = LeNetMLP()
model.optimizer = optim.Adam(learning_rate=1e-3)
mx.eval(model.parameters())
network = [ModelOp(model, "x", "y_pred"),
           CrossEntropyOp(("y_pred", "y"), "ce"),
           UpdateOp(model, "ce")]


def run_epoch(data, mode, batch_size=32):
    n = len(data["y"])
    idx = rng.permutation(n) if mode == "train" else np.arange(n)
    state = {"mode": mode}
    tot, correct, nb = 0.0, 0, 0
    steps = (n + batch_size - 1) // batch_size
    for b in range(steps):
        sel = idx[b * batch_size:(b + 1) * batch_size]
        batch = {"x": mx.array(data["x"][sel]), "y": mx.array(data["y"][sel])}
        for op in network:
            op.forward(batch, state)
        tot += batch["ce"].item(); nb += 1
        correct += int(mx.sum(mx.argmax(batch["y_pred"], -1) == batch["y"]).item())
        if mode == "train" and (b % 10 == 0 or b == steps - 1):
            done = int(30 * (b + 1) / steps)
            sys.stdout.write(f"\r{mode} [{'#' * done}{'.' * (30 - done)}] {b + 1}/{steps} ce={tot / nb:.4f}")
            sys.stdout.flush()
    if mode == "train":
        sys.stdout.write("\n")
    return tot / nb, correct / n


t0 = time.time()
for epoch in range(1, 7):
    tr_ce, tr_acc = run_epoch(train, "train")
    te_ce, te_acc = run_epoch(test, "eval")
    print(f"epoch {epoch}: train_ce={tr_ce:.4f} train_acc={tr_acc:.3f} | eval_ce={te_ce:.4f} eval_acc={te_acc:.3f} | {time.time() - t0:.1f}s")
