"""LoRA fine-tune of a small frozen residual MLP, then save the adapter and fuse
it into a fresh copy of the base model for export (mirrors mlx-lm's
adapters.safetensors + adapter_config.json layout)."""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

DIM, HIDDEN, NBLOCKS = 32, 64, 3


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, DIM)

    def __call__(self, x):
        return x + self.down(nn.gelu(self.up(self.norm(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block() for _ in range(NBLOCKS)]
        self.head = nn.Linear(DIM, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x).squeeze(-1)


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, rank, scale):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank, scale)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank, scale):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        self.scale = scale
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def fused(self):
        lin = self.linear
        out_dims, in_dims = lin.weight.shape
        delta = (self.scale * self.lora_b.T) @ self.lora_a.T
        new = nn.Linear(in_dims, out_dims, bias="bias" in lin)
        new.weight = lin.weight + delta.astype(lin.weight.dtype)
        if "bias" in lin:
            new.bias = lin.bias
        return new

    def __call__(self, x):
        y = self.linear(x)
        return y + self.scale * ((x @ self.lora_a) @ self.lora_b)


def apply_adapters(model, cfg):
    for blk in model.blocks[-cfg["num_layers"]:]:
        for key in cfg["keys"]:
            setattr(blk, key, LoRALinear.from_base(getattr(blk, key), cfg["rank"], cfg["scale"]))


def load_adapters(model, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    apply_adapters(model, cfg)
    weights = mx.load(os.path.join(adapter_dir, "adapters.safetensors"))
    model.update(tree_unflatten(list(weights.items())))
    return cfg


def fuse_adapters(model, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    apply_adapters(model, cfg)
    for blk in model.blocks[-cfg["num_layers"]:]:
        for key in cfg["keys"]:
            setattr(blk, key, getattr(blk, key).fused())
    return model


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def main():
    mx.random.seed(7)
    tmp = tempfile.TemporaryDirectory(prefix="lora_fuse_")
    workdir = tmp.name
    base_path = os.path.join(workdir, "base.safetensors")

    # "pretrained" base model: we just fix a random init and save it
    base = Net()
    mx.eval(base.parameters())
    base.save_weights(base_path)

    # target task: the base model's output plus a smooth shift it does not know about
    xs = mx.random.normal((8448, DIM))
    proj = mx.random.normal((DIM,)) / math.sqrt(DIM)
    ys = base(xs) + 1.5 * mx.tanh(xs @ proj) + 0.3 * mx.sin(2.0 * xs[:, 0])
    mx.eval(xs, ys)
    x_tr, y_tr, x_va, y_va = xs[:8192], ys[:8192], xs[8192:], ys[8192:]

    cfg = {"num_layers": 2, "keys": ["up", "down"], "rank": 4, "scale": 2.0}
    model = Net()
    model.load_weights(base_path)
    model.freeze()
    apply_adapters(model, cfg)          # new LoRA layers are trainable
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_train}   workdir: {workdir}")
    print(f"base val mse: {mse(model, x_va, y_va).item():.4f}")

    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, mse)
    bs, steps = 128, 3000
    t0 = time.time()
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, x_tr.shape[0], (bs,))
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 500 == 0:
            print(f"iter {it:4d} | train mse {loss.item():.4f} | "
                  f"val mse {mse(model, x_va, y_va).item():.4f} | {time.time() - t0:.1f}s")

    adapter_val = mse(model, x_va, y_va).item()
    adapter_dir = os.path.join(workdir, "adapters")
    os.makedirs(adapter_dir, exist_ok=True)
    mx.save_safetensors(os.path.join(adapter_dir, "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump(cfg, f)
    print(f"saved adapter ({adapter_val:.4f} val mse) to {adapter_dir}")

    # export: fresh base model + fused adapter
    export = Net()
    export.load_weights(base_path)
    fuse_adapters(export, adapter_dir)
    mx.eval(export.parameters())
    fused_val = mse(export, x_va, y_va).item()
    export.save_weights(os.path.join(workdir, "fused.safetensors"))
    print(f"fused model val mse: {fused_val:.4f}  (adapter model: {adapter_val:.4f})")
    tmp.cleanup()


if __name__ == "__main__":
    main()
