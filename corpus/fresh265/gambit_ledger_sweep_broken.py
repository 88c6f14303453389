import os
import time
import math
import random
import shutil
import atexit
import tempfile

import numpy as np
import mlx.nn as nn
import mlx.core as mx
import mlx.optimizers as optim


WORKDIR = tempfile.mkdtemp()
atexit.register(shutil.rmtree, WORKDIR, True)


def mean(l):  # noqa: E741
    return math.fsum(l) / len(l)


# ---- synthetic "positions": 16 squares, piece codes 0..12, target = win probability
def make_split(n, seed):
    rng = np.random.default_rng(seed)
    boards = rng.integers(0, 13, size=(n, 16))
    values = np.array([0, 1, 3, 3, 5, 9, 0, -1, -3, -3, -5, -9, 0], dtype=np.float64)
    material = values[boards].sum(axis=1)
    winprob = 1.0 / (1.0 + np.exp(-material / 6.0))
    return boards.astype(np.int32), winprob


SPLITS = {
    "train": make_split(2048, 0),
    "val": make_split(512, 1),
    "test": make_split(512, 2),
}


def iterableFactory(split, bin_size):
    boards, winprob = SPLITS[split]
    bins = np.minimum((winprob * bin_size).astype(np.int32), bin_size - 1)

    def gen():
        for i in range(len(boards)):
            yield {"x": boards[i], "y": bins[i]}

    return gen


def batched(gen, batch_size, shuffle=False):
    items = list(gen())
    if shuffle:
        random.shuffle(items)
    for s in range(0, len(items), batch_size):
        chunk = items[s : s + batch_size]
        yield {"x": np.stack([c["x"] for c in chunk]), "y": np.array([c["y"] for c in chunk])}


class ChessNet(nn.Module):
    def __init__(self, num_layers, num_heads, vocab_size, embedding_dim, bin_size, rms_norm=False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.pos = nn.Embedding(16, embedding_dim)
        self.layers = [
            nn.TransformerEncoderLayer(embedding_dim, num_heads, embedding_dim * 2)
            for _ in range(num_layers)
        ]
        self.norm = nn.RMSNorm(embedding_dim) if rms_norm else nn.LayerNorm(embedding_dim)
        self.head = nn.Linear(embedding_dim, bin_size)

    def __call__(self, x):
        h = self.embed(x) + self.pos(mx.arange(x.shape[1]))
        for layer in self.layers:
            h = layer(h, None)
        return self.head(self.norm(h).mean(axis=1))


def test(
    model, bin_size, val_dset_path, batch_size, eval_fn, lax_eval_fn, num_batches=-1
):
    accs = []
    lax_accs = []
    dset = batched(iterableFactory(val_dset_path, bin_size), batch_size)
    for i, batch in enumerate(dset):
        if i > num_batches and num_batches != -1:
            break
        X, y = mx.array(batch["x"]), mx.array(batch["y"])
        accs.append(eval_fn(model, X, y).item())
        lax_accs.append(lax_eval_fn(model, X, y).item()) if lax_eval_fn is not None else 0

    return mean(accs), mean(lax_accs)


def log_loss_and_acc(epoch, batch, avg_train_loss, avg_train_acc, avg_lax_train_acc,
                     avg_test_acc, avg_lax_test_acc, time_taken):
    print(
        f"Epoch: {epoch}, batch: {batch} | train loss: {avg_train_loss:.2f} | train acc: {avg_train_acc:.2f} | lax train acc: {avg_lax_train_acc:.2f} | test acc: {avg_test_acc:.2f} | lax test acc: {avg_lax_test_acc:.2f} | Took {time_taken:.2f} seconds"
    )


def evaluate_model(
    model,
    bin_size,
    train_dset_path,
    val_dset_path,
    test_dset_path,
    optimizer,
    loss_fn,
    eval_fn,
    lax_eval_fn,
    nepochs,
    batch_size,
    log_interval=8,
):
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    best_path = os.path.join(WORKDIR, "best.npz")

    best_acc = 0
    for epoch in range(nepochs):
        train_dset = batched(iterableFactory(train_dset_path, bin_size), batch_size, shuffle=True)
        losses = []
        accs = []
        lax_accs = []

        start = time.perf_counter()
        for i, batch in enumerate(train_dset):
            X, y = mx.array(batch["x"]), mx.array(batch["y"])
            loss, grads = loss_and_grad_fn(model, X, y)
            losses.append(loss.item())

            accs.append(eval_fn(model, X, y).item())
            lax_acc = lax_eval_fn(model, X, y).item() if lax_eval_fn is not None else 0
            lax_accs.append(lax_acc)

            if i % log_interval == 0:
                eval_acc, lax_eval_acc = test(
                    model,
                    bin_size,
                    val_dset_path,
                    batch_size,
                    eval_fn,
                    lax_eval_fn,
                    num_batches=4,
                )
                time_taken = round(time.perf_counter() - start, 2)
                log_loss_and_acc(epoch, i, mean(losses), mean(accs), mean(lax_accs),
                                 eval_acc, lax_eval_acc, time_taken)

                if eval_acc > best_acc:
                    best_acc = eval_acc
                    model.save_weights(best_path)

                losses = []
                accs = []
                lax_accs = []
                start = time.perf_counter()

            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)

    # Get test acc for the best model
    model.load_weights(best_path)
    final_test_acc, _ = test(
        model,
        val_dset_path,
        batch_size,
        eval_fn,
        lax_eval_fn,
        num_batches=500,
    )
    return final_test_acc


def classification_loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def classification_eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


def classification_k3_eval_fn(model, X, y):
    return mx.mean(mx.abs(mx.argmax(model(X), axis=1) - y) <= 3)


def objective(trial_id, rng):
    mx.random.seed(1)

    bin_size = 16
    vocab_size = 13

    embedding_dim = 32
    batch_size = 128
    num_layers = 2
    num_heads = 4

    lr = float(math.exp(rng.uniform(math.log(1e-3), math.log(4e-3))))
    rms_norm = rng.choice([True, False])
    opt = rng.choice(["adam", "adamw"])
    print(f"[trial {trial_id}] learning_rate={lr:.2e} rms_norm={rms_norm} optimizer={opt}")

    if opt == "adam":
        optimizer = optim.Adam(lr)
    elif opt == "adamw":
        optimizer = optim.AdamW(lr)

    model = ChessNet(num_layers, num_heads, vocab_size, embedding_dim, bin_size, rms_norm=rms_norm)
    mx.eval(model.parameters())

    return evaluate_model(
        model,
        bin_size,
        "train",
        "val",
        "test",
        optimizer,
        classification_loss_fn,
        classification_eval_fn,
        classification_k3_eval_fn,
        nepochs=2,
        batch_size=batch_size,
    )


if __name__ == "__main__":
    rng = random.Random(7)
    random.seed(0)
    results = []
    for t in range(2):
        acc = objective(t, rng)
        print(f"[trial {t}] finished, value: {acc:.4f}")
        results.append(acc)
    best = max(range(len(results)), key=lambda k: results[k])
    print(f"Best trial: {best} value: {results[best]:.4f}")
