"""Tablet-weaving draft reversal: a tiny Granite learns to write a draft back in reverse.

mlx_lm train() with gradient accumulation 2; the prompt half of every row is masked
through the dataset offset. The Shuttle callback emits JSON lines, but only every
third train report (silent stretches), every validation, and a note when lr first moves.
"""
import json
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.models import granite
from mlx_lm.tuner.trainer import TrainingArgs, train, evaluate
from mlx_lm.tuner.callbacks import TrainingCallback

CARDS = 8            # card positions 0..7 -> tokens 0..7
MARK, END, START = 8, 9, 10
VOCAB = 11
N = 6
rng = np.random.default_rng(21)


def draft():
    d = [int(x) for x in rng.integers(0, CARDS, N)]
    prompt = [START] + d + [MARK]
    return (prompt + d[::-1] + [END], len(prompt) - 1)


train_set = [draft() for _ in range(1000)]
valid_set = [draft() for _ in range(128)]
uniform = math.log(CARDS)

margs = granite.ModelArgs(
    model_type="granite", hidden_size=48, num_hidden_layers=2, intermediate_size=96,
    num_attention_heads=4, rms_norm_eps=1e-6, vocab_size=VOCAB, logits_scaling=1.0,
    attention_multiplier=1.0 / math.sqrt(12), embedding_multiplier=1.0,
    residual_multiplier=1.0, max_position_embeddings=64, num_key_value_heads=2,
    attention_bias=False, mlp_bias=False, rope_theta=10000.0,
)
mx.random.seed(4)
model = granite.Model(margs)
print(json.dumps({"event": "setup", "params": sum(v.size for _, v in tree_flatten(model.parameters())),
                  "train_rows": len(train_set), "valid_rows": len(valid_set),
                  "uniform_nats": round(uniform, 4)}))

ITERS, WARM, PEAK = 240, 30, 2e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, ITERS // 2 - WARM, 1e-4)], [WARM]
)
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)


class Shuttle(TrainingCallback):
    def __init__(self):
        self.n = 0
        self.lr_seen = False

    def on_train_loss_report(self, i):
        self.n += 1
        if not self.lr_seen and i["learning_rate"] > 0:
            self.lr_seen = True
            print(json.dumps({"event": "note", "iteration": i["iteration"], "msg": "lr above zero"}))
        if self.n % 3 == 0:
            print(json.dumps({"event": "train", "iteration": i["iteration"],
                              "loss": round(i["train_loss"], 4),
                              "nats_below_uniform": round(uniform - i["train_loss"], 4),
                              "lr": float(f"{i['learning_rate']:.3e}"),
                              "tokens": i["trained_tokens"]}))

    def on_val_loss_report(self, i):
        print(json.dumps({"event": "val", "iteration": i["iteration"],
                          "loss": round(i["val_loss"], 4),
                          "nats_below_uniform": round(uniform - i["val_loss"], 4)}))


d = tempfile.mkdtemp()
args = TrainingArgs(batch_size=16, iters=ITERS, val_batches=-1, steps_per_report=10,
                    steps_per_eval=60, steps_per_save=10_000, max_seq_length=32,
                    grad_accumulation_steps=2, adapter_file=os.path.join(d, "loom.safetensors"))
train(model, opt, train_set, valid_set, args=args, training_callback=Shuttle())
print(json.dumps({"event": "done", "optimizer_updates": int(opt.step.item()),
                  "final_lr": float(f"{opt.learning_rate.item():.3e}")}))

model.eval()
hits = cards = 0
for toks, off in valid_set[:64]:
    seq = toks[: off + 1]
    for _ in range(N):
        seq.append(int(mx.argmax(model(mx.array([seq]))[0, -1]).item()))
    got, want = seq[off + 1:], toks[off + 1: off + 1 + N]
    hits += int(got == want)
    cards += sum(int(a == b) for a, b in zip(got, want))
print(json.dumps({"event": "score", "exact_draft_pct": round(100 * hits / 64, 1),
                  "card_pct": round(100 * cards / (64 * N), 1), "chance_card_pct": round(100 / CARDS, 1)}))
