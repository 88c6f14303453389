"""Orchard row-tag reader: a tiny OLMo-2 decoder learns to read picking-crate
tags back in reverse ("R4821|" -> "1284.") through mlx-lm's trainer, in three
stages with longer tags and a larger max_seq_length per stage.  Each stage gets
a fresh AdamW with its own warm-up from lr 0.  Reports are protobuf text format.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import olmo2
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train

mx.random.seed(5)
rng = np.random.default_rng(5)

CHARS = "0123456789R|."
stoi = {c: i + 1 for i, c in enumerate(CHARS)}
V = len(CHARS) + 1


def tag(n_digits):
    digits = "".join(str(d) for d in rng.integers(0, 10, n_digits))
    prompt = f"R{digits}|"
    return prompt, digits[::-1] + "."


class TagSet:
    def __init__(self, n, n_digits):
        self.rows = []
        for _ in range(n):
            p, a = tag(n_digits)
            self.rows.append(([stoi[c] for c in p + a], len(p)))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


class TextProto(TrainingCallback):
    def __init__(self, stage):
        self.stage = stage

    def on_train_loss_report(self, info):
        print(f'report {{ stage: {self.stage} iter: {info["iteration"]} '
              f'train_loss: {info["train_loss"]:.4f} '
              f'learning_rate: {info["learning_rate"]:.3e} '
              f'trained_tokens: {info["trained_tokens"]} }}', flush=True)

    def on_val_loss_report(self, info):
        print(f'eval {{ stage: {self.stage} iter: {info["iteration"]} '
              f'val_loss: {info["val_loss"]:.4f} }}', flush=True)


STAGES = [
    ("short tags", 2, 16, 3e-3),
    ("medium tags", 4, 24, 2e-3),
    ("long tags", 6, 32, 1.5e-3),
]


def main():
    t0 = time.time()
    args = olmo2.ModelArgs(model_type="olmo2", hidden_size=32, num_hidden_layers=2,
                           intermediate_size=64, num_attention_heads=4,
                           num_key_value_heads=2, rms_norm_eps=1e-6,
                           vocab_size=V, max_position_embeddings=64)
    model = olmo2.Model(args)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f'model {{ type: "olmo2" params: {n_params} vocab: {V} '
          f'uniform_loss: {math.log(V):.4f} }}', flush=True)

    iters, warm = 90, 15
    held = {}
    for k, (name, nd, max_len, peak) in enumerate(STAGES, 1):
        print(f'stage {{ index: {k} name: "{name}" digits: {nd} '
              f'max_seq_length: {max_len} peak_lr: {peak} }}', flush=True)
        train_set, val_set = TagSet(800, nd), TagSet(48, nd)
        held[nd] = val_set
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak, warm),
             optim.cosine_decay(peak, iters - warm, peak / 20)], [warm])
        opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
        targs = TrainingArgs(batch_size=16, iters=iters, val_batches=-1,
                             steps_per_report=15, steps_per_eval=45,
                             steps_per_save=10_000, max_seq_length=max_len,
                             adapter_file=f"/tmp/orchard_rowtag_stage{k}.safetensors")
        train(model, opt, train_set, val_set, args=targs,
              training_callback=TextProto(k))

    model.eval()
    for nd, vs in held.items():
        vl = evaluate(model, vs, batch_size=16, num_batches=-1, max_seq_length=32)
        print(f'final {{ digits: {nd} val_loss: {vl:.4f} '
              f'uniform_loss: {math.log(V):.4f} }}', flush=True)
    print(f'done {{ seconds: {time.time() - t0:.1f} }}', flush=True)


if __name__ == "__main__":
    main()
