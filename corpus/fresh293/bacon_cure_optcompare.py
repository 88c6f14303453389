"""Bacon curing room: 3-way cure grade (under / ready / over) from belly readings.

Optimizer comparison inside one script. Every run starts from the SAME saved
initial weights. Run 'hold' uses learning rate 0.0 on purpose: it is the
untrained reference the other optimizers are compared against.
Output: CSV rows only (run,epoch,lr,train_ce,val_ce,val_acc_pct), written
every 4 epochs, then a summary block.
"""
import csv
import os
import sys
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def belly_batch(n, rng):
    thick = rng.uniform(2.0, 5.5, n)         # cm
    salt_g = rng.uniform(18, 34, n)          # g per kg
    sugar = rng.uniform(0, 15, n)            # g per kg
    days = rng.uniform(4, 14, n)
    temp = rng.uniform(2, 7, n)              # cure room deg C
    nitrite = rng.uniform(80, 160, n)        # ppm
    progress = (days * (0.6 + 0.08 * temp) * (salt_g / 26) ** 0.7) / thick ** 1.3
    progress += 0.004 * sugar - 0.001 * (nitrite - 120) + rng.logistic(0, 0.18, n)
    grade = np.digitize(progress, [1.25, 2.05])
    X = np.stack([thick, salt_g, sugar, days, temp, nitrite], 1).astype(np.float32)
    return X, grade.astype(np.int32)


class CureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 48), nn.Linear(48, 48), nn.Linear(48, 3)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.gelu(l(x))
        return self.layers[-1](x)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    Xtr, ytr = belly_batch(6000, rng)
    Xva, yva = belly_batch(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)
    prior = np.bincount(ytr, minlength=3) / len(ytr)
    prior_ce = float(-np.log(prior[yva]).mean())

    mx.random.seed(0)
    init_dir = tempfile.mkdtemp()
    init_path = os.path.join(init_dir, "init.safetensors")
    seed_model = CureNet()
    mx.eval(seed_model.parameters())
    seed_model.save_weights(init_path)

    EPOCHS, BS = 16, 100
    steps = EPOCHS * (len(ytr) // BS)
    runs = {
        "hold": lambda: optim.SGD(learning_rate=0.0),
        "sgd_nesterov": lambda: optim.SGD(learning_rate=optim.cosine_decay(0.1, steps, 0.002),
                                          momentum=0.9, nesterov=True),
        "adam": lambda: optim.Adam(learning_rate=optim.cosine_decay(3e-3, steps, 6e-5)),
        "lion": lambda: optim.Lion(learning_rate=optim.cosine_decay(3e-4, steps, 6e-6),
                                   weight_decay=0.01),
    }
    out = csv.writer(sys.stdout, lineterminator="\n")
    print(f"# grades under/ready/over in train: {np.round(prior * 100, 1).tolist()} %; "
          f"prior-only val_ce {prior_ce:.4f}")
    out.writerow(["run", "epoch", "lr", "train_ce", "val_ce", "val_acc_pct"])
    summary = {}
    for name, make_opt in runs.items():
        model = CureNet()
        model.load_weights(init_path)
        opt = make_opt()
        step_fn = nn.value_and_grad(model, ce)
        w0 = np.array(model.layers[0].weight)
        ep_rng = np.random.default_rng(42)
        for ep in range(1, EPOCHS + 1):
            perm = mx.array(ep_rng.permutation(len(ytr)))
            tot = 0.0
            for i in range(0, len(ytr) - BS + 1, BS):
                idx = perm[i:i + BS]
                loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
            if ep == 1 or ep % 4 == 0:
                logits = model(Xva_m)
                val_ce = ce(model, Xva_m, yva_m).item()
                acc = (mx.argmax(logits, axis=1) == yva_m).astype(mx.float32).mean().item() * 100
                lr = float(opt.learning_rate)
                out.writerow([name, ep, f"{lr:.3g}", f"{tot / (len(ytr) // BS):.4f}",
                              f"{val_ce:.4f}", f"{acc:.1f}"])
        moved = float(np.abs(np.array(model.layers[0].weight) - w0).max())
        summary[name] = (val_ce, acc, moved)

    print("# summary: run, final val_ce, val_acc %, max |dW| first layer")
    for name, (v, a, m) in summary.items():
        print(f"#   {name:13s} {v:.4f}  {a:5.1f}%  {m:.4f}")
    best = min((k for k in summary if k != "hold"), key=lambda k: summary[k][0])
    print(f"# best optimizer: {best} ({summary['hold'][0] - summary[best][0]:.3f} nats below hold)")
    print(f"# elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
