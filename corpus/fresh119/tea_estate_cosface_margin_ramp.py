"""Which estate did this tea come from?

A cosine-margin (CosFace-style) classifier over 14 lab assay values of
black-tea samples from six estates.  The margin is ramped in over the first
epochs, so the *training* loss goes up for a while before it comes down;
validation is scored with plain cosine logits (no margin).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ESTATES = ["Assam-N", "Assam-S", "Darjeeling", "Nilgiri", "Ceylon-Uva", "Kenya-K"]
ASSAYS = 14


class Cfg:
    seed = 7
    n_train = 12000
    n_val = 1800
    batch = 96
    epochs = 16
    lr = 0.05
    momentum = 0.9
    wd = 5e-4
    scale = 16.0
    margin = 0.30
    margin_ramp_epochs = 3
    emb = 24


def make_tea(n, rng, centres, mixing):
    y = rng.integers(0, len(ESTATES), size=n)
    z = centres[y] + rng.normal(0.0, 1.0, size=(n, 6))
    # assays are a nonlinear read-out of 6 latent leaf/processing factors
    x = np.tanh(z @ mixing) + 0.35 * (z @ mixing) ** 2 / 4.0
    x += rng.normal(0.0, 0.15, size=x.shape)
    return x.astype(np.float32), y.astype(np.int32)


class CosineHead(nn.Module):
    def __init__(self, dim, n_cls):
        super().__init__()
        self.weight = mx.random.normal((n_cls, dim)) * 0.1

    def __call__(self, f):
        w = self.weight / mx.linalg.norm(self.weight, axis=1, keepdims=True)
        f = f / (mx.linalg.norm(f, axis=1, keepdims=True) + 1e-6)
        return f @ w.T  # cosines in [-1, 1]


class TeaNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(ASSAYS, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
            nn.Linear(64, cfg.emb),
        )
        self.head = CosineHead(cfg.emb, len(ESTATES))

    def __call__(self, x):
        return self.head(self.body(x))


def cosface_loss(model, x, y, margin, scale):
    cos = model(x)
    onehot = mx.eye(len(ESTATES))[y]
    logits = scale * (cos - margin * onehot)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def margin_at(epoch_float, cfg):
    return cfg.margin * min(1.0, epoch_float / cfg.margin_ramp_epochs)


def evaluate(model, x, y, scale):
    cos = model(x)
    ce = nn.losses.cross_entropy(scale * cos, y, reduction="mean")
    pred = mx.argmax(cos, axis=1)
    acc = mx.mean(pred == y)
    # mean angle between a sample and its own estate's prototype
    own = mx.take_along_axis(cos, y[:, None], axis=1)
    ang = mx.mean(mx.arccos(mx.clip(own, -1.0, 1.0))) * 180.0 / np.pi
    mx.eval(ce, acc, ang)
    return ce.item(), acc.item(), ang.item()


def main():
    cfg = Cfg()
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    centres = rng.normal(0.0, 1.8, size=(len(ESTATES), 6))
    mixing = rng.normal(0.0, 0.6, size=(6, ASSAYS))
    xtr, ytr = make_tea(cfg.n_train, rng, centres, mixing)
    xva, yva = make_tea(cfg.n_val, rng, centres, mixing)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    Xva, Yva = mx.array(xva), mx.array(yva)

    model = TeaNet(cfg)
    mx.eval(model.parameters())
    steps_per_epoch = cfg.n_train // cfg.batch
    total = steps_per_epoch * cfg.epochs
    sched = optim.cosine_decay(cfg.lr, total, 1e-3)
    opt = optim.SGD(learning_rate=sched, momentum=cfg.momentum, weight_decay=cfg.wd)
    loss_and_grad = nn.value_and_grad(model, cosface_loss)

    print("tea-estate classifier: {} train / {} val samples, {} estates, chance {:.1f}%".format(
        cfg.n_train, cfg.n_val, len(ESTATES), 100.0 / len(ESTATES)))

    # gradient sanity check on one batch before training
    _, g0 = loss_and_grad(model, mx.array(xtr[:cfg.batch]), mx.array(ytr[:cfg.batch]),
                          cfg.margin, cfg.scale)
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    print("grad check: {} leaves, zero leaves: {}".format(len(flat), dead if dead else "none"))

    ce0, acc0, ang0 = evaluate(model, Xva, Yva, cfg.scale)
    print("untrained: val_ce {:.3f}  val_acc {:.1f}%  own-angle {:.1f} deg".format(ce0, 100 * acc0, ang0))
    print("{:>5} | {:>6} | {:>7} | {:>10} | {:>8} | {:>8} | {:>9} | {:>5}".format(
        "epoch", "margin", "lr", "train_loss", "val_ce", "val_acc", "own_angle", "secs"))

    step = 0
    t0 = time.time()
    for epoch in range(cfg.epochs):
        order = rng.permutation(cfg.n_train)
        run, nb = 0.0, 0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            m = margin_at(epoch + b / steps_per_epoch, cfg)
            loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]), m, cfg.scale)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
            step += 1
        ce, acc, ang = evaluate(model, Xva, Yva, cfg.scale)
        print("{:>5} | {:>6.3f} | {:>7.4f} | {:>10.4f} | {:>8.4f} | {:>7.1f}% | {:>9.1f} | {:>5.1f}".format(
            epoch + 1, margin_at(epoch + 1, cfg), sched(step).item(), run / nb, ce, 100 * acc, ang,
            time.time() - t0))

    ce, acc, ang = evaluate(model, Xva, Yva, cfg.scale)
    cos = model(Xva)
    pred = np.array(mx.argmax(cos, axis=1))
    print("per-estate recall:")
    for k, name in enumerate(ESTATES):
        sel = yva == k
        print("  {:<11} {:5.1f}%  (n={})".format(name, 100.0 * (pred[sel] == k).mean(), sel.sum()))
    print("done: val accuracy {:.1f}% after {} steps ({:.1f}s)".format(100 * acc, step, time.time() - t0))


if __name__ == "__main__":
    main()
