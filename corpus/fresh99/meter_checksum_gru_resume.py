"""Running mod-3 checksum of a stream of meter-reading digits, learned by a GRU.

At every position the model must output (sum of the digits so far) mod 3.
Training uses a length curriculum (4 -> 8 -> 16 digits), a learning rate that
warms up linearly from exactly 0, and is interrupted half-way: the run writes a
checkpoint (weights + optimizer state + step) to a temp dir, throws the model
and optimizer away, rebuilds both from the checkpoint and carries on.
One JSON object per report line.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TOTAL_STEPS = 900
WARMUP = 100
PEAK_LR = 3e-3
BATCH = 64
STOP_AT = 450            # the "interruption"
REPORT_EVERY = 50


def length_for(step):
    return 4 if step < 300 else (8 if step < 600 else 16)


def batch(rng, n, length):
    d = rng.integers(0, 10, size=(n, length))
    y = np.cumsum(d, axis=1) % 3
    return mx.array(d.astype(np.int32)), mx.array(y.astype(np.int32))


class Checksum(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.emb = nn.Embedding(10, 12)
        self.rnn = nn.GRU(12, hidden)
        self.out = nn.Linear(hidden, 3)

    def __call__(self, d):
        return self.out(self.rnn(self.emb(d)))


def loss_fn(model, d, y):
    return nn.losses.cross_entropy(model(d), y, reduction="mean")


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, end=1e-4)],
        [WARMUP])
    return optim.Adam(learning_rate=sched)


def evaluate(model, d, y):
    logits = model(d)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=-1) == y).mean()
    return loss.item(), acc.item()


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def train(model, opt, start, stop, data_rng, val_sets):
    step_fn = nn.value_and_grad(model, loss_fn)
    running = []
    for step in range(start, stop):
        L = length_for(step)
        d, y = batch(data_rng, BATCH, L)
        lr_now = opt.learning_rate.item()        # lr used by this update
        loss, grads = step_fn(model, d, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if (step + 1) % REPORT_EVERY == 0:
            vl, va = evaluate(model, *val_sets[L])
            emit(step=step + 1, seq_len=L, lr=round(lr_now, 6),
                 train_loss=round(float(np.mean(running)), 4),
                 val_loss=round(vl, 4), val_acc=round(va, 4))
            running = []


def main():
    mx.random.seed(1)
    vrng = np.random.default_rng(123)
    val_sets = {L: batch(vrng, 512, L) for L in (4, 8, 16, 32)}
    data_rng = np.random.default_rng(7)

    model = Checksum()
    opt = make_optimizer()
    emit(event="start", params=sum(v.size for _, v in tree_flatten(model.parameters())),
         first_lr=opt.learning_rate.item())
    train(model, opt, 0, STOP_AT, data_rng, val_sets)

    ckpt = tempfile.mkdtemp(prefix="checksum_ckpt_")
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt, "meta.json"), "w") as fh:
        json.dump({"step": STOP_AT, "rng": data_rng.bit_generator.state}, fh)
    before = evaluate(model, *val_sets[16])
    emit(event="checkpoint", dir=ckpt, val16_loss=round(before[0], 5))
    del model, opt

    # ---- resume from what was written ----
    with open(os.path.join(ckpt, "meta.json")) as fh:
        meta = json.load(fh)
    model = Checksum()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = meta["rng"]
    after = evaluate(model, *val_sets[16])
    emit(event="resumed", step=meta["step"], val16_loss=round(after[0], 5),
         lr=round(opt.learning_rate.item(), 6), opt_step=int(opt.step.item()))
    train(model, opt, meta["step"], TOTAL_STEPS, data_rng, val_sets)

    for L in (16, 32):
        vl, va = evaluate(model, *val_sets[L])
        emit(event="final", seq_len=L, val_loss=round(vl, 4), val_acc=round(va, 4))
    shutil.rmtree(ckpt, ignore_errors=True)


if __name__ == "__main__":
    main()
