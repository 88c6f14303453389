"""Tiny char-level LM fine-tune driven by axolotl-style *proportions*.

Instead of absolute step counts the config gives fractions of the run
(how often to validate, how many validation batches per train item); the
script turns them into integers.  Validation mirrors mlx_lm's evaluate():
token-weighted mean over `num_batches` validation batches.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
mx.random.seed(0)

TEXT = ("the quick brown fox jumps over the lazy dog. "
        "pack my box with five dozen liquor jugs. "
        "how vexingly quick daft zebras jump. ") * 40
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int32)
split = int(0.9 * len(data))
train_data, valid_data = data[:split], data[split:]

config = {
    "iters": 120,
    "batch_size": 16,
    "seq_len": 32,
    "validation_interval_proportion": 0.25,   # validate 4 times per run
    "validations_per_train_item": 0.01,       # val batches per train step
    "reporting_interval_proportion": 0.125,
    "learning_rate": 3e-3,
}


def iterate_batches(arr, bs, T, train):
    while True:
        starts = rng.integers(0, len(arr) - T - 1, size=bs)
        x = np.stack([arr[s:s + T] for s in starts])
        y = np.stack([arr[s + 1:s + T + 1] for s in starts])
        yield mx.array(x), mx.array(y)


class CharLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.head(h)


def loss(model, x, y):
    ce = nn.losses.cross_entropy(model(x), y)
    ntoks = mx.array(y.size)
    return ce.mean(), ntoks


def evaluate(model, num_batches):
    all_losses = mx.array(0.0)
    ntokens = mx.array(0)
    for _, (x, y) in zip(range(num_batches),
                         iterate_batches(valid_data, config["batch_size"], config["seq_len"], False)):
        l, toks = loss(model, x, y)
        all_losses += l * toks
        ntokens += toks
        mx.eval(all_losses, ntokens)
    return (all_losses / ntokens).item()


num_iterations = config["iters"]
scaled_steps_per_eval = int(num_iterations * config["validation_interval_proportion"])
scaled_val_batches = int(config["validations_per_train_item"]
                         * config["validation_interval_proportion"] * num_iterations)
scaled_val_batches = max(1, scaled_val_batches)
scaled_steps_per_report = int(config["reporting_interval_proportion"] * num_iterations)
print(f"Calculating loss every {scaled_steps_per_report} steps, reporting validation loss every "
      f"{scaled_steps_per_eval} steps, validating with {scaled_val_batches} batches.")

model = CharLM(len(chars))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=config["learning_rate"])


def step_loss(model, x, y):
    return loss(model, x, y)[0]


vg = nn.value_and_grad(model, step_loss)
running, n = 0.0, 0
batches = iterate_batches(train_data, config["batch_size"], config["seq_len"], True)
for it in range(1, num_iterations + 1):
    if it == 1 or it % scaled_steps_per_eval == 0:
        print(f"Iter {it}: Val loss {evaluate(model, scaled_val_batches):.3f}")
    x, y = next(batches)
    l, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, l)
    running += l.item(); n += 1
    if it % scaled_steps_per_report == 0:
        print(f"Iter {it}: Train loss {running / n:.3f}")
        running, n = 0.0, 0
print(f"Final: Val loss {evaluate(model, scaled_val_batches):.3f}")
