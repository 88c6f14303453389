# Sentence-classification head on a tiny token model: gradient accumulation,
# global-norm clipping inside a compiled optimizer step, warmup + cosine LR.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB, SEQ, N_CLS = 200, 24, 3


def make_corpus(n, rng):
    # each class prefers its own block of "keyword" tokens, rest is filler
    x = rng.integers(40, VOCAB, size=(n, SEQ))
    y = rng.integers(0, N_CLS, size=n)
    for i in range(n):
        k = rng.integers(1, 4)
        pos = rng.choice(SEQ, size=k, replace=False)
        x[i, pos] = rng.integers(20 * y[i], 20 * y[i] + 20, size=k)
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


class BagClassifier(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.norm = nn.LayerNorm(dim)
        self.hidden = nn.Linear(dim, dim)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(dim, N_CLS)

    def __call__(self, tokens):
        h = self.embed(tokens).mean(axis=1)
        h = self.drop(nn.silu(self.hidden(self.norm(h))))
        return self.out(h)


class TrainingArgs:
    batch_size = 32
    gradient_accumulation_steps = 4
    learning_rate = 3e-3
    warmup_steps = 20
    num_epochs = 12
    max_grad_norm = 1.0
    logging_steps = 32


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_corpus(8192, rng)
    xva, yva = make_corpus(512, rng)
    args = TrainingArgs()

    model = BagClassifier()
    steps_per_epoch = xtr.shape[0] // (args.batch_size * args.gradient_accumulation_steps)
    total = steps_per_epoch * args.num_epochs
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-5, args.learning_rate, args.warmup_steps),
         optim.cosine_decay(args.learning_rate, total - args.warmup_steps, 1e-5)],
        [args.warmup_steps],
    )
    optimizer = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    state = [model.state, optimizer.state, mx.random.state]
    grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def step_calc(x, y):
        return grad_fn(model, x, y)

    @partial(mx.compile, inputs=state, outputs=state)
    def update_fn(accumulated_grads):
        flattened_grads = tree_flatten(accumulated_grads)
        squares = [mx.sum(mx.square(g[1])) for g in flattened_grads]
        total_norm = mx.sqrt(mx.sum(mx.array(squares)))
        scale = mx.minimum(1.0, args.max_grad_norm / (total_norm + 1e-6))
        accumulated_grads = tree_map(lambda g: g * scale, accumulated_grads)
        optimizer.update(model, accumulated_grads)
        return total_norm

    t0 = time.time()
    global_step = 0
    for epoch in range(args.num_epochs):
        model.train()
        perm = mx.array(rng.permutation(xtr.shape[0]))
        acc, n_micro, run_loss, run_norm, n_logged = None, 0, 0.0, 0.0, 0
        for s in range(0, xtr.shape[0] - args.batch_size + 1, args.batch_size):
            idx = perm[s : s + args.batch_size]
            loss, grads = step_calc(xtr[idx], ytr[idx])
            acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
            run_loss += loss.item()
            n_micro += 1
            if n_micro % args.gradient_accumulation_steps == 0:
                acc = tree_map(lambda g: g / args.gradient_accumulation_steps, acc)
                norm = update_fn(acc)
                acc = None
                mx.eval(model.state, optimizer.state, norm)
                global_step += 1
                run_norm += norm.item()
                n_logged += 1
                if global_step % args.logging_steps == 0:
                    print(f"step {global_step:4d} | loss {run_loss / n_micro:.4f} | grad_norm {run_norm / n_logged:.3f}"
                          f" | lr {optimizer.learning_rate.item():.2e}")
                    run_loss, run_norm, n_micro, n_logged = 0.0, 0.0, 0, 0
        model.eval()
        va_acc = mx.mean(mx.argmax(model(xva), axis=1) == yva).item()
        print(f"== epoch {epoch + 1}: val_acc {va_acc:.3f}")
    print(f"finished {global_step} optimizer steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
