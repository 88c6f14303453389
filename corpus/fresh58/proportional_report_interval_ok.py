"""Quick fine-tune of a tiny next-token model, with an axolotl-style config:
eval / report / save cadences are given as *proportions* of the total number
of iterations, and the absolute step counts are derived from the dataset size.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {
    "epochs": 2,
    "batch_size": 128,
    "learning_rate": 3e-3,
    "context": 4,
    "validation_interval_proportion": 0.25,
    "validations_per_train_item": 0.5,
    "reporting_interval_proportion": 0.015,
}

VOCAB = 96
rng = np.random.default_rng(5)
mx.random.seed(5)
# a sparse Markov chain: each context token has 2 likely successors
succ = rng.integers(0, VOCAB, (VOCAB, 2))


def make_stream(n):
    toks = [int(rng.integers(VOCAB))]
    for _ in range(n - 1):
        toks.append(int(succ[toks[-1], int(rng.random() < 0.3)]))
    return np.array(toks, np.int32)


def windows(stream, ctx):
    X = np.stack([stream[i:i + ctx] for i in range(len(stream) - ctx)])
    y = stream[ctx:]
    return X, y


Xtr, ytr = windows(make_stream(4000), CONFIG["context"])
Xva, yva = windows(make_stream(1200), CONFIG["context"])


class TinyLM(nn.Module):
    def __init__(self, vocab, ctx, dim=64, hidden=768):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc = nn.Linear(ctx * dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.gelu(self.fc(h)))


def batches(X, y, bs, shuffle):
    idx = rng.permutation(len(X)) if shuffle else np.arange(len(X))
    for s in range(0, len(X) - bs + 1, bs):
        b = idx[s:s + bs]
        yield mx.array(X[b]), mx.array(y[b])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, num_batches):
    losses = []
    for i, (x, y) in enumerate(batches(Xva, yva, CONFIG["batch_size"], False)):
        if i >= num_batches:
            break
        losses.append(loss_fn(model, x, y).item())
    return sum(losses) / len(losses)


epoch_num_steps = len(Xtr) // CONFIG["batch_size"]
num_iterations = epoch_num_steps * CONFIG["epochs"]
scaled_steps_per_eval = int(num_iterations * CONFIG["validation_interval_proportion"])
scaled_val_batches = int(CONFIG["validations_per_train_item"]
                         * CONFIG["validation_interval_proportion"] * num_iterations)
scaled_val_batches = max(1, scaled_val_batches)
scaled_steps_per_report = max(1, int(CONFIG["reporting_interval_proportion"] * num_iterations))
print(f"iters={num_iterations} eval_every={scaled_steps_per_eval} "
      f"val_batches={scaled_val_batches} report_every={scaled_steps_per_report}")

model = TinyLM(VOCAB, CONFIG["context"])
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=CONFIG["learning_rate"])
loss_and_grad = nn.value_and_grad(model, loss_fn)

print(f"uniform-guess loss: {math.log(VOCAB):.3f}")
print(f"it 0: val loss {evaluate(model, scaled_val_batches):.3f}")

it = 0
window_loss, window_n = 0.0, 0
for epoch in range(CONFIG["epochs"]):
    for x, y in batches(Xtr, ytr, CONFIG["batch_size"], True):
        it += 1
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window_loss += loss.item()
        window_n += 1

        if it % scaled_steps_per_report == 0 or it == num_iterations:
            print(f"it {it}: train loss {window_loss / window_n:.3f}, "
                  f"lr {CONFIG['learning_rate']:.1e}")
            window_loss, window_n = 0.0, 0

        if it % scaled_steps_per_eval == 0 or it == num_iterations:
            print(f"it {it}: val loss {evaluate(model, scaled_val_batches):.3f}")

print("finished", it, "iterations")
