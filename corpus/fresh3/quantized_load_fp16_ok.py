"""QLoRA-style fine-tune: 4-bit base model + LoRA adapters, base weights from a saved fp16
checkpoint (written here first so the script is self-contained)."""
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        d_out, d_in = base.weight.shape[0], base.weight.shape[1] * (32 // base.bits)
        self.lora_a = mx.random.uniform(-1, 1, (d_in, r)) / math.sqrt(d_in)
        self.lora_b = mx.zeros((r, d_out))
        self.scale = alpha / r

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 10)

    def __call__(self, x):
        return self.out(nn.gelu(self.fc2(nn.gelu(self.fc1(x)))))


ckpt = os.path.join(tempfile.mkdtemp(), "base_fp16.safetensors")
base = Net()
base.set_dtype(mx.float16)
base.save_weights(ckpt)

model = Net()
model.load_weights(ckpt, strict=False)
nn.quantize(model, group_size=64, bits=4)
model.freeze()
model.fc1 = LoRALinear(model.fc1)
model.fc2 = LoRALinear(model.fc2)

mx.random.seed(0)
X = mx.random.normal((512, 64))
y = (X[:, :10] * mx.arange(1, 11)).argmax(axis=1)
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, lambda m, x, t: nn.losses.cross_entropy(m(x), t, reduction="mean"))
for it in range(1, 201):
    idx = mx.random.randint(0, 512, (64,))
    loss, g = step(model, X[idx], y[idx])
    opt.update(model, g)
    mx.eval(model.trainable_parameters(), opt.state)
    if it % 25 == 0:
        print(f"it {it:4d}  loss {loss.item():.3f}")
