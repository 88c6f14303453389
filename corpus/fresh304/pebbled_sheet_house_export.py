"""Curling club shot charts: 4-way outcome of a delivery
(in the house / guard / takeout made / through the sheet) from 9 readings.

GELU MLP, SGD with Nesterov momentum under cosine decay with warm restarts
(the loss jumps up at each restart, on purpose). Quiet between reports.
After training the eval forward is exported with mx.export_function,
re-imported and checked against the live model; then an 8-bit quantized
copy (the 96-wide layers) is made and scored beside the float model and a majority-class baseline.
"""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 5
N_TRAIN, N_VAL = 6000, 1500
BATCH = 128
CYCLE_EPOCHS = [6, 10, 14]          # warm restarts after epoch 6 and 16
PEAK_LR = 0.08
CLASSES = ["house", "guard", "takeout", "through"]


def make_data(rng, n):
    # release speed, handle rotation, line offset, sweeping effort, pebble age,
    # ice temp, stone weight, target distance, skip call (standard normal)
    x = rng.normal(size=(n, 9)).astype(np.float32)
    speed, rot, line, sweep, pebble, ice, weight, dist, call = x.T
    travel = 1.2 * speed + 0.5 * sweep - 0.4 * pebble + 0.3 * ice + 0.2 * weight
    curl = 0.8 * rot * (1.0 - 0.3 * np.tanh(speed)) - line
    logits = np.stack([
        -1.5 * (travel - dist) ** 2 + 0.6 - 0.4 * np.abs(curl),      # house
        -1.2 * (travel - dist + 1.2) ** 2 + 0.3 * call,               # guard
        1.6 * (travel - dist - 0.4) - 0.8 * np.abs(curl) + 0.5 * call,  # takeout
        1.9 * (travel - dist - 1.6),                                  # through
    ], axis=1)
    logits += 0.6 * rng.gumbel(size=logits.shape)
    return x, logits.argmax(1).astype(np.int32)


class ShotNet(nn.Module):
    def __init__(self, d_in, width=96, n_out=4):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.hid = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_out)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = self.norm(nn.gelu(self.hid(h)) + h)
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(logits, y):
    return mx.mean(mx.argmax(logits, axis=1) == y).item()


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr_np, ytr_np = make_data(rng, N_TRAIN)
    xva_np, yva_np = make_data(rng, N_VAL)
    m, s = xtr_np.mean(0), xtr_np.std(0)
    xtr, xva = mx.array((xtr_np - m) / s), mx.array((xva_np - m) / s)
    ytr, yva = mx.array(ytr_np), mx.array(yva_np)

    share = np.bincount(ytr_np, minlength=4) / N_TRAIN
    major = int(share.argmax())
    base_acc = float(np.mean(yva_np == major))
    print("class share " + " ".join(f"{c}={p:.2f}" for c, p in zip(CLASSES, share)))
    print(f"majority baseline ({CLASSES[major]}) val_acc {base_acc:.3f}")

    steps_per_epoch = N_TRAIN // BATCH
    cycles = [optim.cosine_decay(PEAK_LR, e * steps_per_epoch, end=1e-4) for e in CYCLE_EPOCHS]
    bounds = list(np.cumsum([e * steps_per_epoch for e in CYCLE_EPOCHS[:-1]]))
    sched = optim.join_schedules(cycles, [int(b) for b in bounds])

    mx.random.seed(SEED)
    model = ShotNet(9)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    lossgrad = nn.value_and_grad(model, loss_fn)
    mx.eval(model.parameters())

    epochs = sum(CYCLE_EPOCHS)
    restarts = {int(c) for c in np.cumsum(CYCLE_EPOCHS)[:-1]}
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(N_TRAIN)
        tot = 0.0
        first_batches = []
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, grads = lossgrad(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss
            if i < 5:
                first_batches.append(loss.item())
        report = ep < 2 or (ep + 1) % 5 == 0 or ep in restarts or ep + 1 == epochs
        if report:
            model.eval()
            vl = model(xva)
            vloss = nn.losses.cross_entropy(vl, yva, reduction="mean").item()
            tag = "  <- restart" if ep in restarts else ""
            print(f"epoch {ep + 1:2d} lr {opt.learning_rate.item():.4f} "
                  f"first5 {np.mean(first_batches):.4f} train {tot.item() / steps_per_epoch:.4f} "
                  f"val {vloss:.4f} val_acc {accuracy(vl, yva):.3f}{tag}")

    model.eval()
    live = model(xva)
    mx.eval(live)
    float_acc = accuracy(live, yva)

    outdir = tempfile.mkdtemp()
    fn_path = os.path.join(outdir, "shotnet.mlxfn")

    def forward(x):
        return model(x)

    mx.export_function(fn_path, forward, xva)
    served = mx.import_function(fn_path)
    (imp,) = served(xva)
    diff = mx.max(mx.abs(imp - live)).item()
    imp_acc = accuracy(imp, yva)
    print(f"exported {os.path.getsize(fn_path) / 1024:.1f} KB function, "
          f"max |imported - live| {diff:.2e}, imported val_acc {imp_acc:.3f}")

    nn.quantize(model, group_size=32, bits=8,
                class_predicate=lambda _, m: isinstance(m, nn.Linear) and m.weight.shape[1] % 32 == 0)
    q = model(xva)
    q_acc = accuracy(q, yva)
    agree = mx.mean(mx.argmax(q, 1) == mx.argmax(live, 1)).item()
    print(f"val_acc float {float_acc:.3f} | int8 {q_acc:.3f} (agrees {agree:.3f}) "
          f"| majority baseline {base_acc:.3f}")
    shutil.rmtree(outdir)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
