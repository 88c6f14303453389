"""Sluice-gate schedule LM: pretrain a small float model, QLoRA-adapt it on a
4-bit (mxfp4) base, checkpoint, then reload from the checkpoint and keep training."""

import json
import os
import types

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
VOCAB, DIM, HID, SEQ = 32, 64, 128, 24


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.up_proj = nn.Linear(DIM, HID)
        self.down_proj = nn.Linear(HID, DIM)

    def __call__(self, x):
        return x + self.down_proj(nn.gelu(self.up_proj(self.norm(x))))


class SluiceLM(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Block() for _ in range(args.num_layers)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        h = self.embed(x) + self.pos(mx.arange(x.shape[1]))
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, scale=2.0):
        super().__init__()
        out_dims = base.weight.shape[0]
        in_dims = base.scales.shape[1] * base.group_size
        self.linear = base
        self.scale = scale
        self.lora_a = mx.random.uniform(-1, 1, (in_dims, r)) / in_dims**0.5
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def from_pretrained(model, bits=4, group_size=32, mode="mxfp4"):
    """Quantize the base for QLoRA and record the quantization config."""
    nn.quantize(model, bits=bits, group_size=group_size, mode=mode)
    if hasattr(model, "args"):
        model.args.quantization = {"group_size": group_size, "bits": bits, "quant_method": mode}
        model.args.quantization_config = model.args.quantization
    return model


def add_lora(model):
    model.freeze()
    for layer in model.layers:
        layer.up_proj = LoRALinear(layer.up_proj)
        layer.down_proj = LoRALinear(layer.down_proj)


def load_from_checkpoint(ckpt_dir):
    """Rebuild the model the way mlx-lm's loader does: config -> quantize -> weights."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        config = json.load(f)
    args = types.SimpleNamespace(num_layers=config["num_layers"])
    model = SluiceLM(args)
    q = config.get("quantization")
    if q is not None:
        nn.quantize(model, group_size=q["group_size"], bits=q["bits"],
                    mode=q.get("mode", "affine"))
        model.args.quantization = q
    add_lora(model)
    model.load_weights(os.path.join(ckpt_dir, "model.safetensors"), strict=True)
    return model, config


def make_batch(n, shift):
    start = mx.random.randint(0, VOCAB, (n, 1))
    steps = mx.arange(SEQ + 1)[None, :]
    seq = (start + steps * shift) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def train(model, opt, steps, shift, tag, log_every=20):
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = make_batch(16, shift)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % log_every == 0 or it == 1:
            print(f"[{tag}] step {it:4d}  loss {loss.item():.4f}")
    return loss.item()


def evaluate(model, shift):
    x, y = make_batch(128, shift)
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (logits.argmax(-1) == y).astype(mx.float32).mean().item()
    return loss, acc


args = types.SimpleNamespace(num_layers=2)
model = SluiceLM(args)
print("stage 1: float pretraining on shift=3 schedules")
train(model, optim.AdamW(learning_rate=3e-3), 60, shift=3, tag="pretrain")
print("pretrain eval (shift=3): loss %.4f acc %.3f" % evaluate(model, 3))

print("stage 2: QLoRA adaptation on shift=5 schedules")
from_pretrained(model, bits=4, group_size=32, mode="mxfp4")
add_lora(model)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")
print("before adaptation (shift=5): loss %.4f acc %.3f" % evaluate(model, 5))
train(model, optim.Adam(learning_rate=2e-3), 80, shift=5, tag="qlora")
loss_a, acc_a = evaluate(model, 5)
print(f"after stage 2 (shift=5): loss {loss_a:.4f} acc {acc_a:.3f}")

ckpt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sluice_ckpt")
os.makedirs(ckpt, exist_ok=True)
mx.save_safetensors(os.path.join(ckpt, "model.safetensors"),
                    dict(tree_flatten(model.parameters())))
with open(os.path.join(ckpt, "config.json"), "w") as f:
    json.dump({"num_layers": args.num_layers,
               "quantization": model.args.quantization}, f)
print(f"checkpoint written to {ckpt}")

print("stage 3: reload checkpoint and continue")
model2, config = load_from_checkpoint(ckpt)
loss_r, acc_r = evaluate(model2, 5)
print(f"reloaded (shift=5): loss {loss_r:.4f} acc {acc_r:.3f}")
train(model2, optim.Adam(learning_rate=1e-3), 40, shift=5, tag="resume")
loss_f, acc_f = evaluate(model2, 5)
print(f"final (shift=5): loss {loss_f:.4f} acc {acc_f:.3f}")
