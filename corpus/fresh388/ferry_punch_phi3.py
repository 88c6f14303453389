"""Ferry ticket punch: a tiny Phi-3 decoder learns to transcribe punched ferry
tickets ("F3s27:" -> "72x;") with mlx-lm's trainer: gradient accumulation over
4 micro-batches, gradient checkpointing, a sampler that draws batches with
replacement, and two sittings (the second one rebuilds the model from the saved
weights file and starts a fresh optimizer).  The punch mark x is a coin flip,
so the loss cannot go below ln(2)/4 per completion token.  Reports are written
as a Graphviz digraph.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import phi3
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train

mx.random.seed(23)
rng = np.random.default_rng(23)

CHARS = "0123456789Fs:;ab"
stoi = {c: i + 1 for i, c in enumerate(CHARS)}
V = len(CHARS) + 1
FLOOR = math.log(2) / 4


def ticket():
    route, seat = rng.integers(1, 10), rng.integers(10, 100)
    prompt = f"F{route}s{seat}:"
    return prompt, str(seat)[::-1] + ("a" if rng.random() < 0.5 else "b") + ";"


class Tickets:
    def __init__(self, n):
        self.rows = []
        for _ in range(n):
            p, a = ticket()
            self.rows.append(([stoi[c] for c in p + a], len(p)))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def draw_batches(dataset, batch_size, max_seq_length, loop=False, seed=None,
                 comm_group=None):
    width = max(len(r[0]) for r in dataset.rows)
    order = np.arange(len(dataset))
    draws = 0
    while True:
        if loop:
            pick = rng.integers(0, len(dataset), batch_size)
        else:
            if draws + batch_size > len(dataset):
                return
            pick = order[draws:draws + batch_size]
            draws += batch_size
        arr = np.zeros((batch_size, width), np.int32)
        lens = []
        for j, i in enumerate(pick):
            toks, off = dataset[int(i)]
            arr[j, :len(toks)] = toks
            lens.append((off, len(toks)))
        yield mx.array(arr), mx.array(lens)


class DotReporter(TrainingCallback):
    def __init__(self, sitting, start):
        self.sitting, self.start, self.prev = sitting, start, None

    def _node(self, name, label):
        print(f'  {name} [label="{label}"];', flush=True)
        if self.prev:
            print(f"  {self.prev} -> {name};", flush=True)
        self.prev = name

    def on_train_loss_report(self, info):
        it = self.start + info["iteration"]
        self._node(f"t{it}", f"sitting {self.sitting}\\niter {it}\\n"
                   f"train {info['train_loss']:.4f}\\nlr {info['learning_rate']:.2e}")

    def on_val_loss_report(self, info):
        it = self.start + info["iteration"]
        self._node(f"v{it}", f"sitting {self.sitting}\\niter {it}\\n"
                   f"val {info['val_loss']:.4f}\\nfloor {FLOOR:.4f}")


def build():
    args = phi3.ModelArgs(model_type="phi3", hidden_size=32, num_hidden_layers=2,
                          intermediate_size=64, num_attention_heads=4,
                          num_key_value_heads=4, rms_norm_eps=1e-5,
                          vocab_size=V, max_position_embeddings=64)
    m = phi3.Model(args)
    mx.eval(m.parameters())
    return m


def sitting(model, k, start, iters, peak, out, train_set, val_set):
    updates, warm = iters // 4, 6
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, updates - warm, peak / 10)], [warm])
    opt = optim.Adam(learning_rate=sched)
    targs = TrainingArgs(batch_size=8, iters=iters, val_batches=-1,
                         steps_per_report=30, steps_per_eval=60,
                         steps_per_save=10_000, max_seq_length=16,
                         grad_checkpoint=True, grad_accumulation_steps=4,
                         adapter_file=os.path.join(out, f"sitting{k}.safetensors"))
    train(model, opt, train_set, val_set, args=targs,
          iterate_batches=draw_batches, training_callback=DotReporter(k, start))
    return targs.adapter_file


def main():
    t0 = time.time()
    out = tempfile.mkdtemp(None, "ferry_punch_")
    train_set, val_set = Tickets(1500), Tickets(160)
    print("digraph ferry_punch {", flush=True)
    model = build()
    n = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f'  setup [shape=box,label="phi3 {n} params\\nuniform {math.log(V):.4f}'
          f'\\nfloor {FLOOR:.4f}"];', flush=True)

    f1 = sitting(model, 1, 0, 120, 5e-3, out, train_set, val_set)
    before = evaluate(model, val_set, 8, -1, 16, iterate_batches=draw_batches)
    del model

    model = build()
    model.load_weights(f1)
    after = evaluate(model, val_set, 8, -1, 16, iterate_batches=draw_batches)
    print(f'  reload [shape=box,label="reloaded {os.path.basename(f1)}\\n'
          f'val {before:.4f} -> {after:.4f}"];', flush=True)
    sitting(model, 2, 120, 120, 1.5e-3, out, train_set, val_set)
    model.eval()
    final = evaluate(model, val_set, 8, -1, 16, iterate_batches=draw_batches)
    print(f'  summary [shape=box,label="final val {final:.4f}\\nfloor {FLOOR:.4f}'
          f'\\nuniform {math.log(V):.4f}\\nseconds {time.time() - t0:.1f}"];', flush=True)
    print("}", flush=True)


if __name__ == "__main__":
    main()
