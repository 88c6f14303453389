"""Sort a 12-digit string with a small transformer encoder.

Training is split in two sessions to mimic a job that gets pre-empted:
session 1 trains, writes its own checkpoint (weights + optimizer state +
a small JSON sidecar), and exits its loop; session 2 builds a fresh model
and optimizer, restores everything from that checkpoint and carries on.
The learning rate warms up linearly from exactly 0, then follows a cosine.
Reports are CSV rows on stdout.
"""
import csv
import json
import os
import sys
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEQ = 12
VOCAB = 10
DIMS = 64
BATCH = 64
TOTAL_STEPS = 480
SAVE_AT = 240
REPORT_EVERY = 40
PEAK_LR = 1.5e-3
WARMUP = 40


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIMS)
        self.pos = nn.Embedding(SEQ, DIMS)
        self.encoder = nn.TransformerEncoder(num_layers=2, dims=DIMS, num_heads=4,
                                             mlp_dims=2 * DIMS)
        self.head = nn.Linear(DIMS, VOCAB)

    def __call__(self, ids):
        x = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        x = self.encoder(x, None)
        return self.head(x)


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    cos = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 5e-5)
    return optim.join_schedules([warm, cos], [WARMUP])


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    hit = logits.argmax(axis=-1) == y
    tok = hit.astype(mx.float32).mean()
    seq = hit.all(axis=-1).astype(mx.float32).mean()
    mx.eval(loss, tok, seq)
    return loss.item(), 100.0 * tok.item(), 100.0 * seq.item()


def batch_stream(rng):
    while True:
        x = rng.integers(0, VOCAB, size=(BATCH, SEQ))
        yield mx.array(x), mx.array(np.sort(x, axis=1))


def run_session(name, model, opt, start, stop, rng, val, writer):
    step_fn = nn.value_and_grad(model, loss_fn)
    stream = batch_stream(rng)
    window = []
    for step in range(start, stop):
        x, y = next(stream)
        loss, grads = step_fn(model, x, y)
        lr_used = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % REPORT_EVERY == 0:
            vl, vt, vs = evaluate(model, *val)
            writer.writerow([name, step + 1, f"{lr_used:.2e}", f"{np.mean(window):.4f}",
                             f"{vl:.4f}", f"{vt:.1f}", f"{vs:.1f}"])
            sys.stdout.flush()
            window = []


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    vx = rng.integers(0, VOCAB, size=(512, SEQ))
    val = (mx.array(vx), mx.array(np.sort(vx, axis=1)))

    writer = csv.writer(sys.stdout)
    writer.writerow(["session", "step", "lr", "train_loss", "val_loss",
                     "val_token_acc_pct", "val_seq_acc_pct"])

    ckpt = tempfile.mkdtemp(prefix="sorter_ckpt_")

    # ---- session 1 ---------------------------------------------------
    model = Sorter()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    run_session("s1", model, opt, 0, SAVE_AT, rng, val, writer)
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt, "meta.json"), "w") as fh:
        json.dump({"step": SAVE_AT, "rng": rng.bit_generator.state}, fh)
    before = evaluate(model, *val)[0]
    del model, opt

    # ---- session 2: everything rebuilt from disk ----------------------
    with open(os.path.join(ckpt, "meta.json")) as fh:
        meta = json.load(fh)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    model = Sorter()
    model.load_weights(os.path.join(ckpt, "weights.safetensors"), strict=True)
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, *val)[0]
    print(f"# resumed from {ckpt} at step {meta['step']} "
          f"(optimizer step {int(opt.step.item())}); val_loss before save {before:.4f}, after load {after:.4f}")
    run_session("s2", model, opt, meta["step"], TOTAL_STEPS, rng, val, writer)

    vl, vt, vs = evaluate(model, *val)
    print(f"# final: val_loss={vl:.4f} token_acc={vt:.1f}% exact_sort={vs:.1f}%")


if __name__ == "__main__":
    main()
