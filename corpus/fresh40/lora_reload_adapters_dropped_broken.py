# LoRA-adapt a small frozen "pretrained" MLP to a new labelling, save the
# adapters, then reload them onto a fresh copy of the base model for the
# held-out test, the way a separate eval script would.
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=4, scale=2.0):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank=rank, scale=scale)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank=4, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        self.scale = scale
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Classifier(nn.Module):
    def __init__(self, d_in=16, hidden=64, n_cls=4):
        super().__init__()
        self.layers = [nn.Linear(d_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, n_cls)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.gelu(l(x))
        return self.layers[-1](x)


def make_task(seed, shift, d_in=16, n_cls=4):
    proj = np.random.default_rng(11).normal(size=(d_in, n_cls))
    proj = proj + shift * np.random.default_rng(seed).normal(size=(d_in, n_cls))
    def sample(k, s):
        r = np.random.default_rng(s)
        x = r.normal(size=(k, d_in)).astype(np.float32)
        y = np.argmax(np.tanh(x) @ proj + 0.3 * (x[:, :n_cls] ** 2), axis=1).astype(np.int32)
        return mx.array(x), mx.array(y)
    return sample


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def fit(model, x, y, steps, lr, bs=64, log_every=None, tag=""):
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, loss_fn)
    n = x.shape[0]
    for it in range(1, steps + 1):
        idx = mx.array(np.random.randint(0, n, size=bs))
        loss, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if log_every and it % log_every == 0:
            print(f"[{tag}] iter {it:4d}  loss {loss.item():.4f}  train_acc {accuracy(model, x, y):.3f}")


def linear_to_lora_layers(model, rank):
    model.freeze()
    for i, l in enumerate(model.layers):
        model.layers[i] = LoRALinear.from_linear(l, rank=rank)


def apply_lora_layers(model, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    adapters = list(mx.load(os.path.join(adapter_dir, "adapters.safetensors")).items())
    wanted = {k.rsplit(".", 1)[0] for k, _ in adapters}
    linear_replacements = []
    for name, module in model.named_modules():
        if name in wanted:
            linear_replacements.append((name, LoRALinear.from_linear(module, rank=cfg["rank"])))
    model.update_modules(tree_unflatten(linear_replacements))
    return model


def main():
    mx.random.seed(3)
    np.random.seed(3)
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="lora_reload_")

    # "pretraining" on task A
    xa, ya = make_task(11, 0.0)(3000, 101)
    base = Classifier()
    fit(base, xa, ya, steps=1500, lr=3e-3)
    print(f"base model on task A: acc {accuracy(base, xa, ya):.3f}")
    base_path = os.path.join(work, "base.safetensors")
    base.save_weights(base_path)

    # LoRA fine-tune on task B
    sample_b = make_task(22, 0.8)
    xb, yb = sample_b(3000, 202)
    xt, yt = sample_b(1000, 303)
    model = Classifier()
    model.load_weights(base_path)
    print(f"base model on task B test: acc {accuracy(model, xt, yt):.3f}")
    linear_to_lora_layers(model, rank=8)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_train}")
    fit(model, xb, yb, steps=2000, lr=5e-3, log_every=250, tag="lora")
    print(f"in-memory adapted model, task B test: acc {accuracy(model, xt, yt):.3f}")

    adapter_dir = os.path.join(work, "adapters")
    os.makedirs(adapter_dir, exist_ok=True)
    mx.save_safetensors(os.path.join(adapter_dir, "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump({"rank": 8}, f)

    # separate evaluation: fresh base + saved adapters
    fresh = Classifier()
    fresh.load_weights(base_path)
    fresh.freeze()
    fresh = apply_lora_layers(fresh, adapter_dir)
    fresh.eval()
    test_loss = loss_fn(fresh, xt, yt).item()
    print(f"reloaded adapters, task B test: loss {test_loss:.4f}  acc {accuracy(fresh, xt, yt):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
