# Print-head QA: adapt a 6-bit quantized nozzle-health classifier from printer model A
# to printer model B with LoRA adapters (QLoRA-style). 64-sample drop-watcher waveform -> 4 states.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
T = 64
STATES = ["healthy", "partial_clog", "misfire", "satellite"]


def make_waveforms(n, printer):
    t = np.linspace(0, 1, T)
    y = rng.integers(0, 4, n)
    delay = 0.25 + 0.05 * (printer == "B") + 0.02 * rng.standard_normal(n)
    amp = np.where(y == 1, 0.45, 1.0) * (1.0 + 0.1 * rng.standard_normal(n))
    width = np.where(y == 2, 0.02, 0.06)
    x = amp[:, None] * np.exp(-((t[None] - delay[:, None]) ** 2) / (2 * width[:, None] ** 2))
    sat = (y == 3)[:, None] * 0.5 * np.exp(-((t[None] - delay[:, None] - 0.18) ** 2) / 0.002)
    x = x + sat
    if printer == "B":  # model B has a ringing transducer and an offset
        x = x + 0.25 * np.sin(40 * t)[None] + 0.3
    x = x + 0.08 * rng.standard_normal((n, T))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, r=8, scale=10.0):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits
        lora = LoRALinear(input_dims, output_dims, r=r, scale=scale)
        lora.linear = linear
        return lora

    def __init__(self, input_dims, output_dims, r=8, scale=10.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims)
        self.scale = scale
        s = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-s, high=s, shape=(input_dims, r))
        self.lora_b = mx.zeros((r, output_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class NozzleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T, 128)
        self.l2 = nn.Linear(128, 128)
        self.head = nn.Linear(128, 4)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


mx.random.seed(7)
xa, ya = make_waveforms(6000, "A")
xb, yb = make_waveforms(1200, "B")
xb_te, yb_te = make_waveforms(2000, "B")

model = NozzleNet()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
print("== stage 1: full-precision pretraining on printer A ==")
for ep in range(6):
    perm = mx.array(rng.permutation(6000))
    tot = 0.0
    for i in range(0, 6000, 100):
        idx = perm[i:i + 100]
        loss, g = step(model, xa[idx], ya[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    print(f"  A ep{ep}  ce={tot / 60:.4f}")
print(f"  printer-B accuracy before adaptation: {accuracy(model, xb_te, yb_te):.3f}")

# quantize the trunk to 6 bits, freeze it, add LoRA adapters
nn.quantize(model, group_size=64, bits=6, class_predicate=lambda p, m: isinstance(m, nn.Linear) and p in ("l1", "l2"))
model.freeze()
model.l1 = LoRALinear.from_base(model.l1, r=8)
model.l2 = LoRALinear.from_base(model.l2, r=8)
model.head.unfreeze()
n_tr = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.trainable_parameters()))
print(f"== stage 2: QLoRA (6-bit trunk) on printer B, trainable={n_tr} ==")
opt2 = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
step2 = nn.value_and_grad(model, loss_fn)
for it in range(1, 401):
    idx = mx.array(rng.integers(0, 1200, 64))
    loss, g = step2(model, xb[idx], yb[idx])
    opt2.update(model, g)
    mx.eval(model.trainable_parameters(), opt2.state, loss)
    if it % 50 == 0:
        print(f"  B it{it:4d}  ce={loss.item():.4f}  acc_B={accuracy(model, xb_te, yb_te):.3f}")
print(f"done in {time.time() - t0:.1f}s; final printer-B accuracy {accuracy(model, xb_te, yb_te):.3f}")
