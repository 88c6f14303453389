# Fine-tune a small dropout-regularised classifier on a tiny noisy dataset,
# validating every `steps_per_eval` iterations (loop shaped after an LM trainer).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
D, H, C = 48, 384, 4
N_TRAIN, N_VAL = 2000, 2000
teacher = rng.normal(size=(D, C))

def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = (x @ teacher).argmax(-1)
    flip = rng.random(n) < 0.25                      # 25% label noise
    y[flip] = rng.integers(0, C, flip.sum())
    return mx.array(x), mx.array(y.astype(np.int32))

x_tr, y_tr = make(N_TRAIN)
x_va, y_va = make(N_VAL)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.out = nn.Linear(H, C)
        self.drop = nn.Dropout(0.5)

    def __call__(self, x):
        x = self.drop(nn.relu(self.l1(x)))
        x = self.drop(nn.relu(self.l2(x)))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model):
    model.eval()
    logits = model(x_va)
    loss = nn.losses.cross_entropy(logits, y_va, reduction="mean")
    acc = (logits.argmax(-1) == y_va).astype(mx.float32).mean()
    return loss.item(), acc.item()


def train(model, opt, iters=1500, batch_size=32, steps_per_report=100, steps_per_eval=100):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    model.train()
    losses, n = 0.0, 0
    start = time.perf_counter()
    for it in range(1, iters + 1):
        if it == 1 or it % steps_per_eval == 0:
            val_loss, val_acc = evaluate(model)
            print(f"Iter {it}: Val loss {val_loss:.3f}, Val acc {val_acc:.3f}")
            start = time.perf_counter()

        idx = mx.array(rng.integers(0, N_TRAIN, batch_size))
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses += loss.item()
        n += 1

        if it % steps_per_report == 0:
            el = time.perf_counter() - start
            print(f"Iter {it}: Train loss {losses / n:.3f}, "
                  f"Learning Rate {opt.learning_rate.item():.1e}, It/sec {n / max(el, 1e-9):.1f}")
            losses, n = 0.0, 0
    val_loss, val_acc = evaluate(model)
    print(f"Final: Val loss {val_loss:.3f}, Val acc {val_acc:.3f}")


mx.random.seed(0)
model = Net()
opt = optim.Adam(learning_rate=2e-4)
train(model, opt)
