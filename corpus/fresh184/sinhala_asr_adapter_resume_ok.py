"""Resume a LoRA fine-tune of a tiny speech-to-character model (Sinhala-style
ASR toy): frames of 16-d features -> one of 20 characters per frame.

Step 1 builds the base model and attaches LoRA (base frozen, adapters
trainable). Step 2 resumes adapter weights saved by an earlier session.
Step 3 trains the adapters further.
"""
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)
N_CHAR, FEAT = 20, 16
proto = rng.normal(0, 1, (N_CHAR, FEAT)).astype(np.float32)


def batch(n):
    y = rng.integers(0, N_CHAR, n)
    x = proto[y] + rng.normal(0, 0.9, (n, FEAT)).astype(np.float32)
    return mx.array(x), mx.array(y)


class LoRALinear(nn.Module):
    def __init__(self, linear, r=4, scale=2.0):
        super().__init__()
        d_out, d_in = linear.weight.shape
        self.linear = linear
        self.lora_a = mx.random.normal((d_in, r)) * (1.0 / d_in ** 0.5)
        self.lora_b = mx.zeros((r, d_out))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Acoustic(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(FEAT, 64)
        self.head = nn.Linear(64, N_CHAR)

    def __call__(self, x):
        return self.head(nn.relu(self.enc(x)))


def get_peft_model(model):
    model.freeze()
    model.enc = LoRALinear(model.enc)
    model.head = LoRALinear(model.head)
    model.enc.linear.freeze()
    model.head.linear.freeze()
    return model


def load_adapter(model, path):
    """Inference helper: load saved adapter tensors for generation."""
    model.load_weights(os.path.join(path, "adapters.safetensors"), strict=False)
    model.freeze()
    model.eval()


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


print("[Step 1] Loading base model and attaching LoRA ...")
model = get_peft_model(Acoustic())
mx.eval(model.parameters())
print(f"trainable tensors: {len(tree_flatten(model.trainable_parameters()))}")

# an earlier session left its adapters on disk
ckpt = tempfile.mkdtemp()
prev = {k: v + 0.01 * mx.random.normal(v.shape) for k, v in tree_flatten(model.trainable_parameters())}
mx.save_safetensors(os.path.join(ckpt, "adapters.safetensors"), prev)

resume = ckpt
if resume:
    adapter_weights = os.path.join(resume, "adapters.safetensors")
    print(f"\n[Step 2b] Resuming from {adapter_weights} ...")
    saved = list(mx.load(adapter_weights).items())
    model.load_weights(saved, strict=False)
    print(f"Loaded {len(saved)} adapter weight tensors.")

print("\n[Step 3] Training ...")
model.train()
opt = optim.AdamW(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
for it in range(1, 301):
    x, y = batch(64)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        xv, yv = batch(500)
        acc = float(mx.mean(mx.argmax(model(xv), axis=-1) == yv))
        print(f"Iter {it}: train loss {loss.item():.3f}, char acc {acc * 100:.1f}%")
print("done")
