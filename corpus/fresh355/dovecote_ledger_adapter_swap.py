# Dovecote ledger: a homing-loft return-time grader (4 grades) is fitted on the
# home loft, then one LoRA adapter per outstation loft is trained with mlx_lm's
# LoRALinear, saved to its own file, and hot-swapped into a single wrapped model
# for a cross-loft evaluation table.
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.tuner.lora import LoRALinear

N_FEAT = 8
N_CLASS = 4


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, N_CLASS)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loft_data(rng, n, angle, shift):
    # readings: wind, distance, bird age, weather, etc. (standardised)
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    z0 = c * x[:, 0] - s * x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    z1 = s * x[:, 0] + c * x[:, 1] + shift * x[:, 4]
    grade = (z0 > 0).astype(np.int32) * 2 + (z1 > 0).astype(np.int32)
    flip = rng.random(n) < 0.05
    grade = np.where(flip, rng.integers(0, N_CLASS, size=n), grade)
    return mx.array(x), mx.array(grade.astype(np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def fit_base(model, x, y):
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(1)
    for _ in range(600):
        idx = mx.array(rng.integers(0, x.shape[0], size=128))
        loss, g = step(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


def wrap(model):
    model.freeze()
    model.l1 = LoRALinear.from_base(model.l1, r=4, scale=10.0)
    model.l2 = LoRALinear.from_base(model.l2, r=4, scale=10.0)
    model.head = LoRALinear.from_base(model.head, r=4, scale=10.0)
    return model


def train_adapter(base_path, name, xtr, ytr, xva, yva, path):
    model = Grader()
    model.load_weights(base_path)
    wrap(model)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"adapter\t{name}\ttrainable\t{n_train}")
    warm = optim.linear_schedule(0.0, 4e-3, 30)
    sched = optim.join_schedules([warm, optim.cosine_decay(4e-3, 210, 4e-4)], [30])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
    step = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(len(name))
    for it in range(0, 241):
        if it % 40 == 0:
            print(
                f"step\t{name}\t{it}\tlr={opt.learning_rate.item():.5f}"
                f"\tval_loss={loss_fn(model, xva, yva).item():.4f}\tval_acc={accuracy(model, xva, yva):.3f}"
            )
        if it == 240:
            break
        idx = mx.array(rng.integers(0, xtr.shape[0], size=128))
        loss, g = step(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    mx.save_safetensors(path, dict(tree_flatten(model.trainable_parameters())))
    return accuracy(model, xva, yva)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(7)
    lofts = {"home": (0.0, 0.0), "ridge": (0.9, 0.8), "estuary": (-1.1, -0.7)}
    data = {}
    for k, (a, s) in lofts.items():
        data[k] = (loft_data(rng, 3000, a, s), loft_data(rng, 1000, a, s))

    with tempfile.TemporaryDirectory() as tmp:
        base = Grader()
        mx.eval(base.parameters())
        (xtr, ytr), (xva, yva) = data["home"]
        last = fit_base(base, xtr, ytr)
        print(f"base\thome\tfinal_train_loss={last:.4f}\tval_acc={accuracy(base, xva, yva):.3f}")
        base_path = os.path.join(tmp, "base.safetensors")
        base.save_weights(base_path)

        files = {}
        for name in ("ridge", "estuary"):
            (xtr, ytr), (xva, yva) = data[name]
            files[name] = os.path.join(tmp, f"{name}_adapters.safetensors")
            acc = train_adapter(base_path, name, xtr, ytr, xva, yva, files[name])
            print(f"saved\t{name}\tval_acc={acc:.3f}")

        # one wrapped model, adapters swapped in by file
        model = Grader()
        model.load_weights(base_path)
        wrap(model)
        print("table\tweights\t" + "\t".join(lofts))
        row = [f"{accuracy(base, *data[k][1]):.3f}" for k in lofts]
        print("table\tbase\t" + "\t".join(row))
        for name, path in files.items():
            model.load_weights(path, strict=False)
            row = [f"{accuracy(model, *data[k][1]):.3f}" for k in lofts]
            print(f"table\t{name}\t" + "\t".join(row))
        print("table\tchance\t" + "\t".join("0.250" for _ in lofts))


if __name__ == "__main__":
    main()
