"""Sluice-gate flow regime classifier (free / transitional / submerged) from
six synthetic gauge readings, trained with eval-based best-model tracking."""
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass
class RunArgs:
    max_steps: int = 600
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    eval_steps: int = 40
    logging_steps: int = 20
    metric_for_best_model: str = "loss"
    greater_is_better: bool = False
    early_stopping_patience: int = 4
    load_best_model_at_end: bool = True
    seed: int = 11


def make_gauges(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 6), key=k1)
    head_up = 1.2 * x[:, 0] + 0.4 * x[:, 3]
    tail = 1.0 * x[:, 1] - 0.3 * x[:, 4]
    opening = 0.8 * x[:, 2]
    ratio = tail - 0.6 * head_up + 0.5 * opening + 0.35 * mx.random.normal((n,), key=k2)
    y = (ratio > -0.5).astype(mx.int32) + (ratio > 0.6).astype(mx.int32)
    return x, y


class RegimeNet(nn.Module):
    def __init__(self, d_in=6, hidden=48, n_cls=3):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=-1) == y)
    return {"eval_loss": loss.item(), "eval_accuracy": acc.item()}


class BestTracker:
    def __init__(self):
        self.best_metric = None
        self.best_step = None
        self.best_params = None
        self.bad_evals = 0
        self.last_eval_metrics = None

    def update(self, args, model, step):
        metric_name = args.metric_for_best_model
        em = self.last_eval_metrics or {}
        if metric_name not in em:
            raise ValueError(
                f"metric_for_best_model={metric_name!r} not in eval "
                f"metrics; available: {sorted(em)}"
            )
        cur = em[metric_name]
        greater = bool(args.greater_is_better)
        improved = cur == cur and (
            self.best_metric is None
            or (cur > self.best_metric if greater else cur < self.best_metric)
        )
        if improved:
            self.best_metric = cur
            self.best_step = step
            self.best_params = tree_map(lambda a: mx.array(a), model.parameters())
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        return improved


def main():
    args = RunArgs()
    mx.random.seed(args.seed)
    key = mx.random.key(args.seed)
    ktr, kva = mx.random.split(key)
    xtr, ytr = make_gauges(4000, ktr)
    xva, yva = make_gauges(800, kva)
    counts = [int(mx.sum(yva == c).item()) for c in range(3)]
    print(f"train 4000 | valid 800 | valid class counts {counts} | majority baseline {max(counts) / 800:.3f}")

    model = RegimeNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=args.learning_rate, weight_decay=args.weight_decay)
    step_fn = nn.value_and_grad(model, loss_fn)
    tracker = BestTracker()

    n = xtr.shape[0]
    perm = mx.random.permutation(n)
    pos = 0
    run_loss, run_n = 0.0, 0
    t0 = time.time()
    stopped_at = args.max_steps
    for step in range(1, args.max_steps + 1):
        if pos + args.batch_size > n:
            perm = mx.random.permutation(n)
            pos = 0
        idx = perm[pos:pos + args.batch_size]
        pos += args.batch_size
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        run_n += 1
        if step % args.logging_steps == 0:
            print(f"step {step:4d} | train loss {run_loss / run_n:.4f}")
            run_loss, run_n = 0.0, 0
        if step % args.eval_steps == 0:
            tracker.last_eval_metrics = evaluate(model, xva, yva)
            improved = tracker.update(args, model, step)
            em = tracker.last_eval_metrics
            print(
                f"step {step:4d} | eval loss {em['eval_loss']:.4f} | eval acc {em['eval_accuracy']:.3f}"
                f" | best {tracker.best_metric:.4f} @ {tracker.best_step}{' *' if improved else ''}"
            )
            if args.early_stopping_patience and tracker.bad_evals >= args.early_stopping_patience:
                stopped_at = step
                print(f"early stop at step {step} after {tracker.bad_evals} evals without improvement")
                break

    if args.load_best_model_at_end and tracker.best_params is not None:
        model.update(tracker.best_params)
        mx.eval(model.parameters())
        print(f"restored weights from step {tracker.best_step}")
    final = evaluate(model, xva, yva)
    print(
        f"done: steps {stopped_at} | final eval loss {final['eval_loss']:.4f} | final eval acc "
        f"{final['eval_accuracy']:.3f} | {time.time() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
