"""GRU sequence classifier (is the running sum of the sequence positive at the
end?) trained with optional gradient-norm clipping configured in a dataclass."""
from dataclasses import dataclass
from typing import Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class RunConfig:
    seq_len: int = 12
    hidden: int = 24
    batch: int = 32
    max_steps: int = 400
    lr: float = 3e-3
    max_grad_norm: Optional[float] = 1.0
    log_every: int = 100


class SeqClassifier(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x):
        h = self.rnn(x[..., None])
        return self.head(h[:, -1])


def maybe_clip(grads, cfg):
    if cfg.max_grad_norm:
        clipped, _total_norm = optim.clip_grad_norm(grads, max_norm=cfg.max_grad_norm)
        return clipped
    return grads


def make_batch(cfg):
    x = mx.random.normal((cfg.batch, cfg.seq_len))
    return x, (x.sum(axis=1) > 0).astype(mx.int32)


def run(cfg):
    mx.random.seed(9)
    clf = SeqClassifier(cfg.hidden)
    opt = optim.Adam(learning_rate=cfg.lr)

    def xent(xb, yb):
        return nn.losses.cross_entropy(clf(xb), yb, reduction="mean")

    grad_fn = nn.value_and_grad(clf, xent)
    step = 0
    while step < cfg.max_steps:
        xb, yb = make_batch(cfg)
        loss, grads = grad_fn(xb, yb)
        grads = maybe_clip(grads, cfg)
        opt.update(clf, grads)
        mx.eval(clf.parameters(), opt.state, loss)
        step += 1
        if step % cfg.log_every == 0:
            xe, ye = make_batch(cfg)
            acc = mx.mean(mx.argmax(clf(xe), axis=1) == ye).item()
            print(f"step {step:4d} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    run(RunConfig())
