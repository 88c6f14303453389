"""Word-level LM on a toy corpus with a model class that owns its loss
(transformer_lm-style). Training loss every 20 iterations, validation
perplexity every 100 iterations, test perplexity at the end."""
import math
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(1)
mx.random.seed(1)

WORDS = ("the cat dog sat ran on under a mat log big small red blue quick slow "
         "jumped over and then".split())
V = len(WORDS)
grammar_next = {i: random.sample(range(V), 4) for i in range(V)}


def gen(n):
    w, out = 0, []
    for _ in range(n):
        out.append(w)
        w = random.choice(grammar_next[w])
    return out


train, valid, test = gen(40000), gen(4000), gen(4000)
context_size, batch_size, num_iters, steps_per_report, steps_per_eval = 16, 32, 400, 20, 100


def to_samples(context_size, dataset):
    n = (len(dataset) - 1) // context_size
    xs = [dataset[i * context_size : (i + 1) * context_size] for i in range(n)]
    ys = [dataset[i * context_size + 1 : (i + 1) * context_size + 1] for i in range(n)]
    return xs, ys


def iterate_batches(batch_size, context_size, dataset):
    xs, ys = to_samples(context_size, dataset)
    while True:
        idx = list(range(len(xs)))
        random.shuffle(idx)
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            ids = idx[s : s + batch_size]
            yield mx.array([xs[i] for i in ids]), mx.array([ys[i] for i in ids])


class LM(nn.Module):
    def __init__(self, dims=32):
        super().__init__()
        self.embedding = nn.Embedding(V, dims)
        self.rnn = nn.GRU(dims, dims)
        self.out_proj = nn.Linear(dims, V)

    def __call__(self, x):
        return self.out_proj(self.rnn(self.embedding(x)))

    def loss(self, x, y, reduce=True):
        losses = nn.losses.cross_entropy(self(x), y)
        return mx.mean(losses) if reduce else mx.mean(losses, axis=-1)


def main():
    model = LM()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=3e-3)
    loss_and_grad_fn = nn.value_and_grad(model, model.loss)
    params = model.trainable_parameters()

    def eval_fn(model, dataset):
        inputs, targets = map(mx.array, to_samples(context_size, dataset))
        loss = 0
        for s in range(0, targets.shape[0], batch_size):
            bx, by = inputs[s : s + batch_size], targets[s : s + batch_size]
            losses = model.loss(bx, by, reduce=False)
            loss += mx.sum(losses).item()
        return loss / targets.shape[0]

    train_iterator = iterate_batches(batch_size, context_size, train)
    losses = []
    tic = time.perf_counter()
    for it, (inputs, targets) in zip(range(num_iters), train_iterator):
        loss, grads = loss_and_grad_fn(inputs, targets)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        losses.append(loss.item())
        if (it + 1) % steps_per_report == 0:
            train_loss = sum(losses) / len(losses)
            toc = time.perf_counter()
            print(f"Iter {it + 1}: Train loss {train_loss:.3f}, It/sec {steps_per_report / (toc - tic):.3f}")
            losses = []
            tic = time.perf_counter()
        if (it + 1) % steps_per_eval == 0:
            val_loss = eval_fn(model, valid)
            print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val ppl {math.exp(val_loss):.3f}")

    test_loss = eval_fn(model, test)
    print(f"Test loss {test_loss:.3f}, Test ppl {math.exp(test_loss):.3f}.")


if __name__ == "__main__":
    main()
