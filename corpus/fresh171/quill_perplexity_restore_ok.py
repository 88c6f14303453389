# Tiny next-token LM on a synthetic Markov "quill" corpus, trained with a
# Trainer-like loop: periodic eval, early stopping on eval_perplexity and
# load_best_model_at_end.
import math
import random
import time
from dataclasses import dataclass
from typing import Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

VOCAB = list("abcdefghijklmn")
V = len(VOCAB)


def make_chain():
    # every (prev2, prev1) context has two likely successors
    table = {}
    for i in range(V):
        for j in range(V):
            a, b = random.sample(range(V), 2)
            table[(i, j)] = (a, b)
    return table


CHAIN = make_chain()


def sample_stream(n):
    s = [random.randrange(V), random.randrange(V)]
    while len(s) < n:
        a, b = CHAIN[(s[-2], s[-1])]
        r = random.random()
        s.append(a if r < 0.6 else (b if r < 0.95 else random.randrange(V)))
    return s


def to_xy(stream):
    ctx = [(stream[i], stream[i + 1]) for i in range(len(stream) - 2)]
    nxt = [stream[i + 2] for i in range(len(stream) - 2)]
    return mx.array(ctx, dtype=mx.int32), mx.array(nxt, dtype=mx.int32)


train_x, train_y = to_xy(sample_stream(6000))
eval_x, eval_y = to_xy(sample_stream(1200))
test_x, test_y = to_xy(sample_stream(1200))


class QuillLM(nn.Module):
    def __init__(self, dim=32, hidden=256):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.fc1 = nn.Linear(2 * dim, hidden)
        self.fc2 = nn.Linear(hidden, V)

    def __call__(self, ctx):
        e = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.fc2(nn.gelu(self.fc1(e)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


@dataclass
class TrainConfig:
    max_steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    logging_steps: int = 50
    eval_steps: int = 100
    metric_for_best_model: str = "eval_perplexity"
    greater_is_better: Optional[bool] = None
    load_best_model_at_end: bool = True
    early_stopping_patience: int = 3


def evaluate(model, x, y, prefix="eval"):
    loss = loss_fn(model, x, y).item()
    return {f"{prefix}_loss": round(loss, 4), f"{prefix}_perplexity": round(math.exp(loss), 4)}


def train(cfg: TrainConfig):
    if cfg.greater_is_better is None:
        name = cfg.metric_for_best_model
        cfg.greater_is_better = not (name.endswith("loss") or name.endswith("perplexity"))

    model = QuillLM()
    mx.eval(model.parameters())
    sched = optim.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps)
    opt = optim.Adam(learning_rate=sched)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    best_metric, best_step, best_state = None, None, None
    bad_evals = 0
    running = 0.0
    n = train_x.shape[0]
    t0 = time.time()
    for step in range(1, cfg.max_steps + 1):
        idx = mx.random.randint(0, n, (cfg.batch_size,))
        loss, grads = loss_and_grad(model, train_x[idx], train_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()

        if step % cfg.logging_steps == 0:
            print({"loss": round(running / cfg.logging_steps, 4),
                   "learning_rate": float(f"{opt.learning_rate.item():.3e}"),
                   "step": step})
            running = 0.0

        if step % cfg.eval_steps == 0:
            metrics = evaluate(model, eval_x, eval_y)
            metrics["step"] = step
            print(metrics)
            value = metrics[cfg.metric_for_best_model]
            if best_metric is None:
                improved = True
            elif cfg.greater_is_better:
                improved = value > best_metric
            else:
                improved = value < best_metric
            if improved:
                best_metric, best_step = value, step
                best_state = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
                bad_evals = 0
            else:
                bad_evals += 1
                if bad_evals >= cfg.early_stopping_patience:
                    print(f"Early stopping: no improvement of {cfg.metric_for_best_model} "
                          f"for {bad_evals} evaluations (step {step})")
                    break

    if cfg.load_best_model_at_end and best_state is not None:
        model.load_weights(best_state)
        mx.eval(model.parameters())
        print(f"Loading best model from step {best_step} "
              f"({cfg.metric_for_best_model}={best_metric})")

    final = evaluate(model, test_x, test_y, prefix="test")
    print(f"train_runtime={time.time() - t0:.2f}s  {final}")
    return final


if __name__ == "__main__":
    train(TrainConfig())
