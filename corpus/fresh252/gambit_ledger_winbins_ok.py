import os
import time
import random
import tempfile

import numpy as np
import mlx.nn as nn
import mlx.core as mx
import mlx.optimizers as optim

# ---- small stand-in for mlx.data streams (stream_python_iterable / batch / shuffle) ----


class Stream:
    def __init__(self, it):
        self._it = it

    def __iter__(self):
        return iter(self._it)

    def batch(self, n):
        src = iter(self._it)

        def gen():
            buf = []
            for s in src:
                buf.append(s)
                if len(buf) == n:
                    yield {k: np.stack([np.asarray(b[k]) for b in buf]) for k in buf[0]}
                    buf = []
            if buf:
                yield {k: np.stack([np.asarray(b[k]) for b in buf]) for k in buf[0]}

        return Stream(gen())

    def shuffle(self, size):
        src = iter(self._it)

        def gen():
            pool = []
            for s in src:
                pool.append(s)
                if len(pool) >= size:
                    j = random.randrange(len(pool))
                    pool[j], pool[-1] = pool[-1], pool[j]
                    yield pool.pop()
            random.shuffle(pool)
            yield from pool

        return Stream(gen())


def stream_python_iterable(factory):
    return Stream(factory())


# ---- synthetic positions: piece codes per square, label = material-balance win bin ----

BIN_SIZE = 8
SEQ_LEN = 12
VOCAB = 13
PIECE_VALUE = np.array([0, 1, 3, 3, 5, 9, 0, -1, -3, -3, -5, -9, 0], dtype=np.float32)

_rng = np.random.default_rng(7)


def _make_split(n):
    x = _rng.integers(0, VOCAB, size=(n, SEQ_LEN))
    score = PIECE_VALUE[x].sum(axis=1) + _rng.normal(0, 0.5, size=n)
    edges = np.quantile(score, np.linspace(0, 1, BIN_SIZE + 1)[1:-1])
    y = np.digitize(score, edges)
    return x.astype(np.int32), y.astype(np.int32)


SPLITS = {"builtinWinsTrain": _make_split(1024), "builtinWinsVal": _make_split(256)}


def buildinWinsIterableFactory(db_path):
    def generator():
        xs, ys = SPLITS[db_path]
        for i in range(len(xs)):
            yield dict(x=xs[i], y=ys[i])

    return generator


# ---- model ----


class FeedForward(nn.Module):
    def __init__(self, embedding_dim, widening_factor=4):
        super().__init__()
        dim = embedding_dim * widening_factor
        self.l1 = nn.Linear(embedding_dim, dim, bias=False)
        self.l2 = nn.Linear(embedding_dim, dim, bias=False)
        self.silu = nn.SiLU()
        self.final = nn.Linear(dim, embedding_dim, bias=False)

    def __call__(self, x):
        return self.final(self.silu(self.l1(x)) * self.l2(x))


class TransformerBlock(nn.Module):
    def __init__(self, embedding_dim, num_heads):
        super().__init__()
        self.layerNorm1 = nn.LayerNorm(embedding_dim)
        self.attention = nn.MultiHeadAttention(embedding_dim, num_heads)
        self.layerNorm2 = nn.LayerNorm(embedding_dim)
        self.feedForward = FeedForward(embedding_dim)

    def __call__(self, x):
        a = self.layerNorm1(x)
        x = x + self.attention(a, a, a)
        x = x + self.feedForward(self.layerNorm2(x))
        return x


class ChessNet(nn.Module):
    def __init__(self, num_layers, num_heads, vocab_size, embed_dim, max_seq_len=SEQ_LEN):
        super().__init__()
        self.token_embeddings = nn.Embedding(vocab_size, embed_dim)
        self.positional_embeddings = nn.Embedding(max_seq_len, embed_dim)
        self.layers = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.final_layer = nn.Linear(embed_dim, BIN_SIZE)

    def __call__(self, x):
        b, seq_len = x.shape
        h = self.token_embeddings(x)
        positions = mx.tile(mx.arange(seq_len).reshape(1, seq_len), (b, 1))
        h = h + self.positional_embeddings(positions)
        for layer in self.layers:
            h = layer(h)
        logits = self.final_layer(h)
        return logits[:, -1, :]


# ---- training ----


def test(model, val_dset_path, batch_size, eval_fn, num_batches=-1):
    accs = []
    dset = stream_python_iterable(buildinWinsIterableFactory(val_dset_path)).batch(batch_size)
    for i, batch in enumerate(dset):
        if i > num_batches and num_batches != -1:
            break
        X, y = mx.array(batch["x"]), mx.array(batch["y"])
        accs.append(eval_fn(model, X, y).item())

    return np.array(accs).mean()


def init_log_file(filepath):
    with open(filepath, "w") as f:
        f.write("epoch,batch,train_loss,train_acc,test_acc\n")


def log_loss_and_acc(filepath, epoch, batch, avg_train_loss, avg_train_acc, avg_test_acc, time_taken):
    print(
        f"Epoch: {epoch}, batch: {batch} | train loss: {avg_train_loss:.3f} | train acc: {avg_train_acc:.3f} | test acc: {avg_test_acc:.3f} | Took {time_taken:.2f} seconds",
        flush=True,
    )
    with open(filepath, "a+") as f:
        f.write(f"{epoch},{batch},{avg_train_loss},{avg_train_acc},{avg_test_acc}\n")


def train(
    model,
    train_dset_path,
    val_dset_path,
    optimizer,
    loss_fn,
    eval_fn,
    nepochs,
    batch_size,
    log_path,
    weights_path,
    log_interval=8,
):
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    init_log_file(log_path)

    best_acc = 0

    for epoch in range(nepochs):
        losses = []
        accs = []

        train_dset = stream_python_iterable(buildinWinsIterableFactory(train_dset_path)).batch(batch_size).shuffle(256)

        start = time.perf_counter()
        for i, batch in enumerate(train_dset):
            X, y = mx.array(batch["x"]), mx.array(batch["y"])
            loss, grads = loss_and_grad_fn(model, X, y)
            acc = eval_fn(model, X, y)
            losses.append(loss.item())
            accs.append(acc.item())

            if i % log_interval == 0:
                test_acc = test(model, val_dset_path, batch_size, eval_fn, num_batches=50)
                if test_acc > best_acc:
                    best_acc = test_acc
                    model.save_weights(weights_path)
                stop = time.perf_counter()
                log_loss_and_acc(
                    log_path,
                    epoch,
                    i,
                    np.array(losses).mean(),
                    np.array(accs).mean(),
                    test_acc,
                    stop - start,
                )
                losses = []
                accs = []
                start = time.perf_counter()

            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


if __name__ == "__main__":
    mx.random.seed(101)
    random.seed(101)

    config = dict(optimizer="adam", learning_rate=1e-3, nepochs=10, batch_size=64, num_layers=1, num_heads=4, emebedding_dim=32)

    opt = config["optimizer"]
    lr = config["learning_rate"]
    nepochs = config["nepochs"]
    batch_size = config["batch_size"]
    optimizer = optim.Adam(lr)

    num_layers = config["num_layers"]
    num_heads = config["num_heads"]
    embedding_dim = config["emebedding_dim"]
    net = ChessNet(num_layers, num_heads, VOCAB, embedding_dim)
    mx.eval(net.parameters())

    print(
        f"Training with {opt} optimizer, learning rate: {lr}, batch size: {batch_size} for {nepochs} epochs.\n"
        f"Model has {num_layers} layers, {num_heads} heads, {embedding_dim} dimensional embeddings and {BIN_SIZE} output classes."
    )

    outdir = tempfile.mkdtemp()
    filename = os.path.join(outdir, f"{opt}_{lr}_{batch_size}_{num_layers}_{num_heads}_{embedding_dim}_{BIN_SIZE}.csv")

    t0 = time.perf_counter()
    train(
        net,
        "builtinWinsTrain",
        "builtinWinsVal",
        optimizer,
        loss_fn,
        eval_fn,
        nepochs,
        batch_size,
        filename,
        os.path.join(outdir, "model.npz"),
    )
    print(f"Training finished in {time.perf_counter() - t0:.1f} s")

    xs, ys = SPLITS["builtinWinsVal"]
    final_acc = eval_fn(net, mx.array(xs), mx.array(ys)).item()
    print(f"Final validation accuracy: {final_acc:.3f} (chance {1 / BIN_SIZE:.3f})")
