# Fine-tune a frozen text-ish classifier with low-rank adapters, checkpoint the
# adapters, then restore them into a fresh copy of the base and re-evaluate.
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_CLASSES, D_IN = 5, 24


class LoRALinear(nn.Module):
    def __init__(self, in_dims, out_dims, rank=8, scale=20.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        bound = 1.0 / in_dims ** 0.5
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))
        self.scale = scale

    @staticmethod
    def from_linear(lin, rank=8, scale=20.0):
        out_dims, in_dims = lin.weight.shape
        l = LoRALinear(in_dims, out_dims, rank, scale)
        l.linear = lin
        return l

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D_IN, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, N_CLASSES)

    def __call__(self, x):
        return self.head(nn.silu(self.fc2(nn.silu(self.fc1(x)))))


def attach_adapters(model, rank, scale):
    model.freeze()
    for name in ("fc2", "head"):
        setattr(model, name, LoRALinear.from_linear(getattr(model, name), rank, scale))
    return model


def dataset(seed, n, rotate):
    r = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(size=(N_CLASSES, D_IN)) * 0.3
    y = r.integers(0, N_CLASSES, n)
    x = centers[(y + rotate) % N_CLASSES] + r.normal(size=(n, D_IN))
    return mx.array(x.astype(np.float32)), mx.array(y)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def train(model, x, y, epochs, lr, phase):
    opt = optim.SGD(learning_rate=lr, momentum=0.9)
    vg = nn.value_and_grad(model, ce)
    n = x.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(np.random.permutation(n))
        tot = 0.0
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            loss, g = vg(model, x[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * idx.shape[0]
        if ep % 5 == 0:
            print(json.dumps({"phase": phase, "epoch": ep, "train_ce": round(tot / n, 4),
                              "train_acc": round(accuracy(model, x, y), 4)}))


def main():
    np.random.seed(1)
    mx.random.seed(1)
    t0 = time.time()
    out = tempfile.mkdtemp(prefix="adapters_")
    rank, scale = 8, 2.0

    xa, ya = dataset(0, 4000, 0)
    base = Classifier()
    train(base, xa, ya, 25, 0.02, "base")
    base_weights = dict(tree_flatten(base.parameters()))

    # downstream task: same inputs, labels permuted -> adapters must re-map
    xb, yb = dataset(1, 4000, 2)
    xt, yt = dataset(2, 2000, 2)
    print(json.dumps({"phase": "before_adapt", "test_acc": round(accuracy(base, xt, yt), 4)}))
    model = attach_adapters(base, rank, scale)
    train(model, xb, yb, 25, 0.01, "adapt")
    mx.save_safetensors(os.path.join(out, "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump({"rank": rank, "scale": scale}, f)
    live = {"test_ce": round(ce(model, xt, yt).item(), 4), "test_acc": round(accuracy(model, xt, yt), 4)}
    print(json.dumps({"phase": "after_adapt", **live}))

    # restore into a fresh process-like copy
    fresh = Classifier()
    fresh.load_weights(list(base_weights.items()))
    with open(os.path.join(out, "adapter_config.json")) as f:
        cfg = json.load(f)
    fresh = attach_adapters(fresh, cfg["rank"], scale=cfg["scale"])
    fresh.load_weights(os.path.join(out, "adapters.safetensors"), strict=False)
    mx.eval(fresh.parameters())
    print(json.dumps({"phase": "restored", "test_ce": round(ce(fresh, xt, yt).item(), 4),
                      "test_acc": round(accuracy(fresh, xt, yt), 4), "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
