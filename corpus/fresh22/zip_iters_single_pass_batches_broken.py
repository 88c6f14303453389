"""Small supervised fine-tune on a handful of examples, lmforge-style trainer loop."""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 40
TRIGGER = 7


def make_split(n, seed):
    rng = random.Random(seed)
    data = []
    for i in range(n):
        length = rng.randint(5, 30)
        toks = [rng.randrange(1, VOCAB) for _ in range(length)]
        toks = [t for t in toks if t != TRIGGER]
        label = i % 2
        if label:
            for _ in range(rng.randint(1, 3)):
                toks.insert(rng.randrange(len(toks) + 1), TRIGGER)
        data.append((toks, label))
    return data


def iterate_batches(dataset, batch_size):
    """Sort by length (descending), group into batches, pad to a multiple of 8.

    One pass over the dataset."""
    order = sorted(range(len(dataset)), key=lambda i: -len(dataset[i][0]))
    for s in range(0, len(order) - batch_size + 1, batch_size):
        idx = order[s:s + batch_size]
        maxlen = max(len(dataset[i][0]) for i in idx)
        maxlen = ((maxlen + 7) // 8) * 8
        toks = [dataset[i][0] + [0] * (maxlen - len(dataset[i][0])) for i in idx]
        lengths = [len(dataset[i][0]) for i in idx]
        labels = [dataset[i][1] for i in idx]
        yield (mx.array(toks), mx.array(labels)), mx.array(lengths)


class Classifier(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 2)

    def __call__(self, toks, lengths):
        mask = (mx.arange(toks.shape[1])[None, :] < lengths[:, None]).astype(mx.float32)
        h = nn.relu(self.proj(self.emb(toks)))
        pooled = (h * mask[..., None]).max(axis=1)
        return self.head(pooled)


def loss_fn(model, batch, lengths):
    toks, labels = batch
    return nn.losses.cross_entropy(model(toks, lengths), labels, reduction="mean")


def evaluate(model, dataset, batch_size):
    tot, n = 0.0, 0
    for (toks, labels), lengths in iterate_batches(dataset, batch_size):
        tot += loss_fn(model, (toks, labels), lengths).item() * toks.shape[0]
        n += toks.shape[0]
    return tot / n


class Config:
    batch_size = 8
    num_iters = 600
    learning_rate = 2e-3
    steps_per_report = 25
    steps_per_eval = 100


def main():
    mx.random.seed(3)
    cfg = Config()
    train_set = make_split(48, 1)
    val_set = make_split(64, 2)
    model = Classifier()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=cfg.learning_rate)
    lg = nn.value_and_grad(model, loss_fn)

    print(f"{'iter':>6} | {'train_loss':>10} | {'val_loss':>8} | {'it/s':>6}")
    print("-" * 42)
    losses = []
    tic = time.perf_counter()
    for it, (batch, lengths) in zip(
        range(1, cfg.num_iters + 1),
        iterate_batches(train_set, cfg.batch_size),
    ):
        if it == 1 or it % cfg.steps_per_eval == 0 or it == cfg.num_iters:
            print(f"{it:>6} | {'':>10} | {evaluate(model, val_set, cfg.batch_size):8.4f} |")
        loss, grads = lg(model, batch, lengths)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if it % cfg.steps_per_report == 0:
            rate = cfg.steps_per_report / (time.perf_counter() - tic)
            print(f"{it:>6} | {sum(losses) / len(losses):10.4f} | {'':>8} | {rate:6.1f}")
            losses = []
            tic = time.perf_counter()
    model.save_weights("/tmp/zip_iters_adapter.safetensors")
    print(f"final val_loss {evaluate(model, val_set, cfg.batch_size):.4f}")
    print("Saved final weights to /tmp/zip_iters_adapter.safetensors")


if __name__ == "__main__":
    main()
