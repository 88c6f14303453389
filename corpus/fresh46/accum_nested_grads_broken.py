"""Tabular fault classifier trained with gradient accumulation (4 micro-batches per update).

Synthetic pump telemetry: 10 features, 3 fault classes separated by a nonlinear rule.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class GradientAccumulationContext:
    """Sum micro-batch gradients, then hand back their average."""

    def __init__(self, total_steps: int):
        self.total_steps = total_steps
        self.reset()

    def reset(self):
        self.current_step = 0
        self.accumulated_loss = 0.0
        self.accumulated_grads = None

    def accumulate(self, grads, loss: float):
        self.current_step += 1
        self.accumulated_loss += loss

        if self.accumulated_grads is None:
            # First accumulation - copy
            self.accumulated_grads = {k: v for k, v in grads.items()}
        else:
            # Sum gradients
            for key in grads:
                if key in self.accumulated_grads:
                    self.accumulated_grads[key] = self.accumulated_grads[key] + grads[key]
                else:
                    self.accumulated_grads[key] = grads[key]

    def ready(self) -> bool:
        return self.current_step >= self.total_steps

    def get_averaged(self):
        avg_grads = {}
        for key, grad in (self.accumulated_grads or {}).items():
            avg_grads[key] = grad / float(self.total_steps)
        avg_loss = self.accumulated_loss / float(self.total_steps)
        return avg_grads, avg_loss


class FaultNet(nn.Module):
    def __init__(self, n_in=10, hidden=128, n_cls=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        return self.head(self.encoder(x))


def make_data(n, rng):
    x = rng.normal(size=(n, 10)).astype(np.float32)
    score_a = x[:, 0] * x[:, 1] + 0.5 * x[:, 2]
    score_b = np.sin(2.0 * x[:, 3]) + x[:, 4] ** 2 - 1.0
    y = np.where(score_a > 0.4, 0, np.where(score_b > 0.0, 1, 2)).astype(np.int32)
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    x_tr, y_tr = make_data(6000, rng)
    x_va, y_va = make_data(1500, rng)

    model = FaultNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    micro_bs, accum = 32, 4
    ctx = GradientAccumulationContext(accum)
    updates = 0
    t0 = time.time()
    print(f"{'epoch':>5} {'updates':>7} {'train_ce':>9} {'val_ce':>8} {'val_acc':>8} {'sec':>6}")
    for epoch in range(1, 21):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        ep_losses = []
        for i in range(0, x_tr.shape[0] - micro_bs + 1, micro_bs):
            idx = perm[i:i + micro_bs]
            loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
            ctx.accumulate(grads, loss.item())
            if ctx.ready():
                avg_grads, avg_loss = ctx.get_averaged()
                opt.update(model, avg_grads)
                mx.eval(model.parameters(), opt.state)
                ctx.reset()
                updates += 1
                ep_losses.append(avg_loss)
        logits = model(x_va)
        val_ce = nn.losses.cross_entropy(logits, y_va, reduction="mean").item()
        val_acc = (mx.argmax(logits, axis=1) == y_va).mean().item()
        print(f"{epoch:>5} {updates:>7} {np.mean(ep_losses):>9.4f} {val_ce:>8.4f} {val_acc:>8.3f} {time.time() - t0:>6.1f}")

    counts = np.bincount(np.array(y_va), minlength=3)
    print(f"majority-class accuracy: {counts.max() / counts.sum():.3f}")


if __name__ == "__main__":
    main()
