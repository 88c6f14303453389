"""LoRA fine-tune of a small frozen regressor, checkpointed and resumed in a second session (MLX)."""
import json
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(21)
D = 24


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(D, D)
        self.gate = nn.Linear(D, D)

    def __call__(self, x):
        return x + nn.tanh(self.proj(x)) * nn.sigmoid(self.gate(x))


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block() for _ in range(3)]
        self.head = nn.Linear(D, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.a = mx.random.normal((in_d, r)) * (1.0 / in_d ** 0.5)
        self.b = mx.zeros((r, out_d))
        self.scale = alpha / r

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.a) @ self.b)


def resolve(keys):
    return ["proj"] if keys in ("auto", ["auto"]) else keys


def apply_lora(model, keys):
    n = 0
    for blk in model.blocks:
        for k in keys:
            if hasattr(blk, k) and isinstance(getattr(blk, k), nn.Linear):
                setattr(blk, k, LoRALinear(getattr(blk, k)))
                n += 1
    return n


def fresh_base():
    mx.random.seed(0)
    m = Base()
    mx.eval(m.parameters())
    return m


X = rng.normal(0, 1, (2048, D)).astype(np.float32)
Y = (np.sin(X[:, :4].sum(1)) + 0.5 * X[:, 4] * X[:, 5])[:, None].astype(np.float32)
X, Y = mx.array(X), mx.array(Y)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def train(model, steps, tag):
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    for s in range(1, steps + 1):
        idx = mx.array(rng.integers(0, X.shape[0], 128))
        loss, g = vg(model, X[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s % 25 == 0:
            print(f"{tag} step {s:3d} loss {loss.item():.4f}")


cfg = {"lora_keys": "auto", "rank": 4}
ckpt = tempfile.mkdtemp()

# ---- session 1 -------------------------------------------------------------
model = fresh_base()
model.freeze()
n = apply_lora(model, resolve(cfg["lora_keys"]))
ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"session 1: wrapped {n} layers, {ntrain} trainable params")
train(model, 200, "[s1]")
model.save_weights(os.path.join(ckpt, "adapters.safetensors"))
with open(os.path.join(ckpt, "adapter_config.json"), "w") as f:
    json.dump({"keys": resolve(cfg["lora_keys"]), "rank": cfg["rank"]}, f)

# ---- session 2: resume from the checkpoint ----------------------------------
with open(os.path.join(ckpt, "adapter_config.json")) as f:
    saved = json.load(f)
model = fresh_base()
model.freeze()
keys = saved["keys"] if isinstance(saved["keys"], list) else [saved["keys"]]
n = apply_lora(model, keys)
model.load_weights(os.path.join(ckpt, "adapters.safetensors"), strict=False)
ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"session 2: resumed {keys}, {ntrain} trainable params")
train(model, 200, "[s2]")
print("final val mse:", round(loss_fn(model, X[:512], Y[:512]).item(), 4))
