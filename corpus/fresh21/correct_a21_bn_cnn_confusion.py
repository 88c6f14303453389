# Small CNN with BatchNorm on synthetic 12x12 "stroke orientation" images (4 classes), SGD with
# Nesterov momentum + step decay; switches model.train()/model.eval() around every evaluation and
# prints only a confusion matrix block per epoch (no loss numbers until the very end).
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["horiz", "vert", "diag", "anti"]
S = 12


def make_images(n, seed):
    key = mx.random.key(seed)
    k1, k2, k3 = mx.random.split(key, 3)
    y = mx.random.randint(0, 4, (n,), key=k1)
    off = mx.random.randint(-3, 4, (n,), key=k2)
    r = mx.arange(S)[:, None]
    c = mx.arange(S)[None, :]
    o = off[:, None, None]
    masks = mx.stack([
        (mx.abs(r - S // 2 - o) <= 1) & (c >= 0),
        (mx.abs(c - S // 2 - o) <= 1) & (r >= 0),
        mx.abs(r - c - o) <= 1,
        mx.abs(r + c - (S - 1) - o) <= 1,
    ], axis=1)                                                # n, 4, S, S
    img = mx.take_along_axis(masks, y[:, None, None, None], axis=1)[:, 0].astype(mx.float32)
    img = img + 1.6 * mx.random.normal(img.shape, key=k3)
    return img[..., None], y


Xtr, Ytr = make_images(3000, 1)
Xte, Yte = make_images(800, 2)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm(16)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm(32)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(32 * 3 * 3, 4)

    def __call__(self, x):
        x = self.pool(nn.relu(self.b1(self.c1(x))))
        x = self.pool(nn.relu(self.b2(self.c2(x))))
        return self.fc(x.reshape(x.shape[0], -1))


mx.random.seed(0)
model = CNN()
sched = optim.step_decay(0.05, 0.5, 4 * (3000 // 50))
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


step = nn.value_and_grad(model, loss_fn)


def confusion(m):
    m.eval()
    pred = mx.argmax(m(Xte), axis=1)
    m.train()
    cm = mx.zeros((4, 4), dtype=mx.int32)
    cm = cm.at[Yte, pred].add(1)
    return cm.tolist()


for epoch in range(1, 9):
    model.train()
    perm = mx.random.permutation(Xtr.shape[0])
    last = None
    for i in range(0, Xtr.shape[0], 50):
        idx = perm[i:i + 50]
        last, g = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), model.state, opt.state)
    cm = confusion(model)
    acc = sum(cm[i][i] for i in range(4)) / len(Yte.tolist())
    sys.stdout.write(f"epoch {epoch}  (test acc {acc:.3f})\n")
    sys.stdout.write("        " + " ".join(f"{c:>6}" for c in CLASSES) + "\n")
    for name, row in zip(CLASSES, cm):
        sys.stdout.write(f"  {name:>5} " + " ".join(f"{v:>6d}" for v in row) + "\n")
    sys.stdout.flush()

model.eval()
print("final train-batch ce", round(last.item(), 4), "| test ce", round(loss_fn(model, Xte, Yte).item(), 4))
