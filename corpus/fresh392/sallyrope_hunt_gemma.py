"""Tower practice log: a tiny Gemma learns plain-hunt changes on five bells.

Trained with mlx_lm's own train(); a PealBook callback writes its own CSV log
and only speaks up when the validation loss reaches a new best.
"""
import csv
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.models import gemma
from mlx_lm.tuner.trainer import TrainingArgs, train, evaluate
from mlx_lm.tuner.callbacks import TrainingCallback

BELLS = 5
SEP, BOS = BELLS + 1, BELLS + 2
VOCAB = BELLS + 3
ROWS = 5
MISSTRIKE = 0.08

rng = np.random.default_rng(11)


def next_row(row, stroke):
    row = list(row)
    start = 0 if stroke % 2 == 0 else 1
    for i in range(start, BELLS - 1, 2):
        row[i], row[i + 1] = row[i + 1], row[i]
    return row


def touch():
    row = [int(b) + 1 for b in rng.permutation(BELLS)]
    stroke = int(rng.integers(2))
    toks = [BOS] + row + [SEP]
    for _ in range(ROWS - 1):
        row = next_row(row, stroke)
        stroke += 1
        shown = list(row)
        if rng.random() < MISSTRIKE:
            i = int(rng.integers(BELLS - 1))
            shown[i], shown[i + 1] = shown[i + 1], shown[i]
        toks += shown + [SEP]
    return toks


train_set = [(touch(), 0) for _ in range(1200)]
valid_set = [(touch(), 0) for _ in range(192)]
print(f"touches: train {len(train_set)}  valid {len(valid_set)}  tokens/touch {len(train_set[0][0])}")

args = gemma.ModelArgs(
    model_type="gemma", hidden_size=48, num_hidden_layers=2, intermediate_size=96,
    num_attention_heads=4, head_dim=12, rms_norm_eps=1e-6, vocab_size=VOCAB,
    num_key_value_heads=1,
)
mx.random.seed(3)
model = gemma.Model(args)
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"gemma ringer: {n_params} parameters")

ITERS, WARM, PEAK = 200, 30, 4e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, ITERS - WARM, 1e-4)],
    [WARM],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

uniform = math.log(BELLS + 1)
print(f"reference: uniform over bells+separator {uniform:.3f} nats")


class PealBook(TrainingCallback):
    def __init__(self, path):
        self.path = path
        self.best = float("inf")
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(["kind", "iteration", "loss", "lr", "tokens"])

    def _write(self, row):
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(row)

    def on_train_loss_report(self, info):
        self._write(["train", info["iteration"], f"{info['train_loss']:.4f}",
                     f"{info['learning_rate']:.3e}", info["trained_tokens"]])

    def on_val_loss_report(self, info):
        v = info["val_loss"]
        self._write(["val", info["iteration"], f"{v:.4f}", "", ""])
        if v < self.best:
            gain = "" if self.best == float("inf") else f" (down {self.best - v:.3f})"
            print(f"  >> peal book: new best val {v:.4f} at iteration {info['iteration']}{gain}")
            self.best = v


workdir = tempfile.mkdtemp()
book = PealBook(os.path.join(workdir, "pealbook.csv"))
targs = TrainingArgs(
    batch_size=16, iters=ITERS, val_batches=-1, steps_per_report=20,
    steps_per_eval=40, steps_per_save=1000, max_seq_length=64,
    adapter_file=os.path.join(workdir, "ringer.safetensors"),
)
t0 = time.perf_counter()
train(model, opt, train_set, valid_set, args=targs, training_callback=book)
print(f"training wall time {time.perf_counter() - t0:.1f}s")

with open(book.path) as f:
    rows = list(csv.DictReader(f))
tr = [r for r in rows if r["kind"] == "train"]
va = [r for r in rows if r["kind"] == "val"]
print(f"peal book: {len(tr)} train rows, {len(va)} val rows")
print(f"  first train row: it {tr[0]['iteration']} loss {tr[0]['loss']} lr {tr[0]['lr']}")
print(f"  last  train row: it {tr[-1]['iteration']} loss {tr[-1]['loss']} lr {tr[-1]['lr']}")
final_val = evaluate(model, valid_set, batch_size=16, num_batches=-1, max_seq_length=64)
print(f"final val loss {final_val:.4f}  (uniform {uniform:.3f}, best seen {book.best:.4f})")

first_row = math.log(math.factorial(BELLS))
p = MISSTRIKE / (BELLS - 1)
row_noise = -(1 - MISSTRIKE) * math.log(1 - MISSTRIKE) - MISSTRIKE * math.log(p)
floor = (first_row + math.log(2) + (ROWS - 1) * row_noise) / (len(train_set[0][0]) - 1)
print(f"per-token floor of the touches {floor:.3f} nats (random first row, stroke parity, misstrikes)")
