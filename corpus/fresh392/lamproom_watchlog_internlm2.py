"""Lighthouse watch-log shorthand: tiny InternLM2 trained with mlx_lm train() in two watches.

Watch 1 trains, writes the weights and optimizer state, and everything is thrown away.
Watch 2 rebuilds the model from ModelArgs, reloads, and carries the schedule on.
The callback prints markdown table rows; the noise floor of the shorthand is exact.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import internlm2
from mlx_lm.tuner.trainer import TrainingArgs, train, evaluate
from mlx_lm.tuner.callbacks import TrainingCallback

# 6 watch marks (calm, haze, fog, squall, gale, lamp-check); order-1 Markov chain
K = 6
rng = np.random.default_rng(5)
P = rng.dirichlet(np.full(K, 0.35), size=K)
pi = np.ones(K) / K
for _ in range(500):
    pi = pi @ P
floor = float(-(pi[:, None] * P * np.log(P + 1e-30)).sum())
uniform = math.log(K)


def entry(n=40):
    s = [int(rng.choice(K, p=pi))]
    for _ in range(n - 1):
        s.append(int(rng.choice(K, p=P[s[-1]])))
    return [K] + [t for t in s]  # K is the start-of-watch mark


train_set = [(entry(), 0) for _ in range(600)]
valid_set = [(entry(), 0) for _ in range(96)]
print(f"log entries: train {len(train_set)} valid {len(valid_set)}; "
      f"entropy floor {floor:.4f} nats, uniform {uniform:.4f} nats")

margs = internlm2.ModelArgs(
    model_type="internlm2", hidden_size=32, num_hidden_layers=2, intermediate_size=64,
    num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=K + 1, bias=False,
    num_key_value_heads=2,
)
TOTAL, WARM, PEAK, SPLIT = 200, 25, 5e-3, 100
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-4)], [WARM]
)


class WatchTable(TrainingCallback):
    def __init__(self, watch, offset):
        self.watch, self.offset = watch, offset

    def on_train_loss_report(self, i):
        it = i["iteration"] + self.offset
        gap = i["train_loss"] - floor
        print(f"| {self.watch} | {it:4d} | train | {i['train_loss']:.4f} | {gap:+.4f} | {i['learning_rate']:.2e} |")

    def on_val_loss_report(self, i):
        it = i["iteration"] + self.offset
        gap = i["val_loss"] - floor
        print(f"| {self.watch} | {it:4d} | val   | {i['val_loss']:.4f} | {gap:+.4f} |          |")


def targs(d, iters):
    return TrainingArgs(batch_size=8, iters=iters, val_batches=-1, steps_per_report=20,
                        steps_per_eval=50, steps_per_save=10_000, max_seq_length=64,
                        adapter_file=os.path.join(d, "lamp.safetensors"))


d = tempfile.mkdtemp()
print("| watch | iter | split | loss | minus floor | lr |")
print("|---|---|---|---|---|---|")

mx.random.seed(0)
model = internlm2.Model(margs)
opt = optim.Adam(learning_rate=sched)
train(model, opt, train_set, valid_set, args=targs(d, SPLIT), training_callback=WatchTable(1, 0))
model.save_weights(os.path.join(d, "watch1.safetensors"))
mx.save_safetensors(os.path.join(d, "watch1_opt.safetensors"), dict(tree_flatten(opt.state)))
v_end1 = evaluate(model, valid_set, batch_size=8, num_batches=-1, max_seq_length=64)
del model, opt

mx.random.seed(99)
model = internlm2.Model(margs)
model.load_weights(os.path.join(d, "watch1.safetensors"))
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(os.path.join(d, "watch1_opt.safetensors")).items()))
v_resume = evaluate(model, valid_set, batch_size=8, num_batches=-1, max_seq_length=64)
print(f"# reloaded at step {opt.step.item()}: val {v_resume:.4f} (saved model scored {v_end1:.4f}), "
      f"lr now {opt.learning_rate.item():.2e}")
train(model, opt, train_set, valid_set, args=targs(d, TOTAL - SPLIT),
      training_callback=WatchTable(2, SPLIT))
final = evaluate(model, valid_set, batch_size=8, num_batches=-1, max_seq_length=64)
print(f"# final val {final:.4f} nats; floor {floor:.4f}; uniform {uniform:.4f}; "
      f"unigram {float(-(pi * np.log(pi)).sum()):.4f}")
