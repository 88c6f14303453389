"""Distil a frozen teacher's sentence embeddings into a small student with LoRA adapters.

Session 1 trains and writes periodic adapter checkpoints; session 2 picks the newest
checkpoint and keeps training from it (the usual "resume after the laptop slept" flow).
"""
import json
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, DIM, EMB_OUT, SEQ = 96, 64, 32, 12
LORA_RANK, LORA_SCALE = 8, 2.0


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

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up_proj = nn.Linear(dim, 2 * dim)
        self.down_proj = nn.Linear(2 * dim, dim)

    def __call__(self, x):
        return x + self.down_proj(nn.gelu(self.up_proj(self.norm(x))))


class Encoder(nn.Module):
    def __init__(self, n_layers=3):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM) for _ in range(n_layers)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, EMB_OUT)

    def __call__(self, ids, eos_pos):
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h)
        h = self.norm(h)
        pooled = mx.take_along_axis(h, eos_pos[:, None, None].astype(mx.int32), axis=1)[:, 0]
        return self.head(pooled)


def base_student():
    mx.random.seed(7)
    model = Encoder()
    mx.eval(model.parameters())
    return model


def apply_lora(model, keys, rank, scale):
    model.freeze()
    for layer in model.layers:
        for name in keys:
            setattr(layer, name, LoRALinear.from_base(getattr(layer, name), rank, scale))
    return model


def load_adapters(model, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    lp = cfg["lora_parameters"]
    model = apply_lora(model, lp["keys"], lp["rank"], lp["scale"])
    model.load_weights(os.path.join(adapter_dir, "adapters.safetensors"), strict=False)
    return model, cfg


def make_corpus(n=768):
    mx.random.seed(123)
    ids = mx.random.randint(1, VOCAB, (n, SEQ))
    lengths = mx.random.randint(4, SEQ, (n,))
    eos_pos = lengths - 1
    teacher_proj = mx.random.normal((VOCAB, EMB_OUT))
    pos = mx.arange(SEQ)[None, :]
    mask = (pos < lengths[:, None]).astype(mx.float32)
    weights = mx.exp(-0.25 * (eos_pos[:, None] - pos)) * mask
    target = (teacher_proj[ids] * weights[..., None]).sum(axis=1)
    target = target / mx.linalg.norm(target, axis=-1, keepdims=True)
    return ids, eos_pos, target


def mimic_loss(model, ids, eos_pos, target):
    pred = model(ids, eos_pos)
    pred = pred / (mx.linalg.norm(pred, axis=-1, keepdims=True) + 1e-6)
    return (1.0 - (pred * target).sum(axis=-1)).mean()


def adapter_config(keys, step):
    return {
        "fine_tune_type": "lora",
        "num_layers": 3,
        "lora_parameters": {"rank": LORA_RANK, "scale": LORA_SCALE, "keys": list(keys)},
        "step": step,
    }


def run_session(model, start_step, n_steps, data, out_root, save_steps, lr):
    ids, eos_pos, target = data
    n_train = 640
    optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, mimic_loss)
    batch = 64
    step = start_step
    keys = ["up_proj", "down_proj"]
    for _ in range(n_steps):
        step += 1
        lo = ((step - 1) * batch) % n_train
        sl = slice(lo, lo + batch)
        t0 = time.perf_counter()
        loss, grads = loss_and_grad(model, ids[sl], eos_pos[sl], target[sl])
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        optimizer.update(model, grads)
        mx.eval(model.trainable_parameters(), optimizer.state, loss)
        dt = time.perf_counter() - t0
        if step % 10 == 0:
            val = mimic_loss(model, ids[n_train:], eos_pos[n_train:], target[n_train:])
            print(f"Step {step}, Loss: {loss.item():.4f}, Val: {val.item():.4f}, "
                  f"grad_norm: {gnorm.item():.3f}, step_ms: {dt * 1000:.1f}")
        if save_steps and step % save_steps == 0:
            output_dir = os.path.join(out_root, f"step_{step}")
            os.makedirs(output_dir, exist_ok=True)
            adapter_weights = dict(tree_flatten(model.trainable_parameters()))
            mx.save_safetensors(str(output_dir), adapter_weights)
            with open(os.path.join(output_dir, "adapter_config.json"), "w") as f:
                json.dump(adapter_config(keys, step), f)
            print(f"Saved checkpoint to {output_dir}")
    return model, step


def main():
    out_root = tempfile.mkdtemp()
    data = make_corpus()
    keys = ["up_proj", "down_proj"]
    try:
        print("== session 1: fresh LoRA distillation ==")
        model = apply_lora(base_student(), keys, LORA_RANK, LORA_SCALE)
        n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
        print(f"Trainable parameters: {n_tr} ({100 * n_tr / n_all:.2f}% of {n_all})")
        model, step = run_session(model, 0, 60, data, out_root, save_steps=20, lr=3e-3)

        final_output_dir = os.path.join(out_root, "final")
        os.makedirs(final_output_dir, exist_ok=True)
        adapter_weights = dict(tree_flatten(model.trainable_parameters()))
        mx.save_safetensors(final_output_dir, adapter_weights)
        with open(os.path.join(final_output_dir, "adapter_config.json"), "w") as f:
            json.dump(adapter_config(keys, step), f)

        print("== session 2: resume from newest checkpoint ==")
        ckpts = [d for d in os.listdir(out_root)
                 if d.startswith("step_") and os.path.isdir(os.path.join(out_root, d))]
        latest = max(ckpts, key=lambda d: int(d.split("_")[1]))
        print(f"Resuming from {latest}")
        model, cfg = load_adapters(base_student(), os.path.join(out_root, latest))
        ids, eos_pos, target = data
        val = mimic_loss(model, ids[640:], eos_pos[640:], target[640:])
        print(f"Val after reload: {val.item():.4f}")
        model, step = run_session(model, cfg["step"], 60, data, out_root, save_steps=0, lr=1.5e-3)
        val = mimic_loss(model, ids[640:], eos_pos[640:], target[640:])
        print(f"Final val cosine distance: {val.item():.4f} after {step} steps")
    finally:
        shutil.rmtree(out_root, ignore_errors=True)


if __name__ == "__main__":
    main()
