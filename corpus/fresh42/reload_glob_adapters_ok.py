"""Two-stage run: pretrain a small regressor, save it, fine-tune a low-rank
adapter on a shifted task (adapters saved next to the base weights), then
rebuild everything from the checkpoint directory and evaluate."""
import glob
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class Regressor(nn.Module):
    def __init__(self, d_in=8, hidden=128):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x))))).squeeze(-1)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, scale=2.0):
        super().__init__()
        out_dim, in_dim = base.weight.shape
        self.linear = base
        self.lora_a = mx.random.normal((in_dim, rank)) * (1.0 / in_dim ** 0.5)
        self.lora_b = mx.zeros((rank, out_dim))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def add_lora(model):
    model.freeze()
    model.l2 = LoRALinear(model.l2)
    model.out = LoRALinear(model.out)
    return model


def load_base(ckpt_dir):
    model = Regressor()
    weight_files = glob.glob(os.path.join(ckpt_dir, "model*.safetensors"))
    if not weight_files:
        raise FileNotFoundError(f"no weights in {ckpt_dir}")
    weights = {}
    for wf in weight_files:
        weights.update(mx.load(wf))
    model.load_weights(list(weights.items()))
    return model


def make_task(rng, n, shift):
    X = rng.normal(size=(n, 8)).astype(np.float32)
    w = np.linspace(-1, 1, 8).astype(np.float32)
    y = np.sin(X @ w) + 0.3 * X[:, 0] * X[:, 1] + shift * np.tanh(X[:, 2])
    return mx.array(X), mx.array(y.astype(np.float32))


def mse(model, X, y):
    return nn.losses.mse_loss(model(X), y)


def fit(model, X, y, steps, lr, tag):
    opt = optim.Adam(learning_rate=lr)
    step = nn.value_and_grad(model, mse)
    for i in range(1, steps + 1):
        idx = mx.array(np.random.randint(0, X.shape[0], 256))
        loss, g = step(model, X[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if i % 250 == 0:
            print(f"[{tag}] step {i:4d}  batch_mse={loss.item():.4f}  full_mse={mse(model, X, y).item():.4f}")


def main():
    mx.random.seed(0)
    np.random.seed(0)
    rng = np.random.default_rng(0)
    t0 = time.time()
    ckpt = tempfile.mkdtemp(prefix="twostage_")

    Xa, ya = make_task(rng, 2048, 0.0)
    base = Regressor()
    fit(base, Xa, ya, 1500, 3e-3, "pretrain")
    base.save_weights(os.path.join(ckpt, "model.safetensors"))

    Xb, yb = make_task(rng, 1024, 1.5)
    print(f"shifted task mse before adapter: {mse(base, Xb, yb).item():.4f}")
    tuned = add_lora(base)
    fit(tuned, Xb, yb, 1500, 3e-3, "adapter")
    from mlx.utils import tree_flatten
    adapters = dict(tree_flatten(tuned.trainable_parameters()))
    mx.save_safetensors(os.path.join(ckpt, "adapters.safetensors"), adapters)

    # fresh process-style reload: base from the dir, then the adapters on top
    restored = load_base(ckpt)
    print(f"reloaded base, shifted mse: {mse(restored, Xb, yb).item():.4f}")
    restored = add_lora(restored)
    restored.load_weights(os.path.join(ckpt, "adapters.safetensors"), strict=False)
    print(f"reloaded base+adapter, shifted mse: {mse(restored, Xb, yb).item():.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
