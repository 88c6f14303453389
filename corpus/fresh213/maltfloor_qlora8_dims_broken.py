"""Floor maltings: predict the hours a barley couch needs to reach full
modification, from floor readings.  A net trained on the old floor is
quantised to 8 bits to save memory, then LoRA adapters are trained for the
new kiln-side floor (QLoRA style)."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(4)


def floor_log(n, new_floor, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 8), key=k1)
    moist, temp, depth, turns, co2, protein, steep_h, air = [x[:, i] for i in range(8)]
    hrs = 96 - 9 * temp - 6 * moist + 4 * depth - 3 * turns + 5 * protein + 2 * co2 * depth
    if new_floor:
        hrs = hrs + 8 * mx.tanh(air * temp) - 5 * steep_h + 6
    hrs = hrs + 1.5 * mx.random.normal((n,), key=k2)
    return x, ((hrs - 96) / 12)[:, None]


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank: int = 8):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 2 * linear.bits
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, rank=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims)
        self.scale = scale
        bound = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (input_dims, rank))
        self.lora_b = mx.zeros((rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Couch(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        x = nn.silu(self.l3(x))
        return self.head(x)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


keys = mx.random.split(mx.random.key(8), 4)
xo, yo = floor_log(3000, False, keys[0])
xn, yn = floor_log(500, True, keys[1])
xnv, ynv = floor_log(500, True, keys[2])

model = Couch()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, mse)
for it in range(1, 301):
    idx = mx.random.randint(0, xo.shape[0], (128,))
    loss, g = vg(model, xo[idx], yo[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 100 == 0:
        print(f"old floor iter {it}: mse {loss.item():.4f}")

# 8-bit base, dims divisible by the group size only
nn.quantize(model, group_size=32, bits=8,
            class_predicate=lambda p, m: isinstance(m, nn.Linear) and m.weight.shape[1] % 32 == 0)
model.freeze()
for name in ("l2", "l3", "head"):
    setattr(model, name, LoRALinear.from_linear(getattr(model, name), rank=8))
ntr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"quantized base, trainable adapter params: {ntr}")
print(f"new floor before adapters: val mse {mse(model, xnv, ynv).item():.4f}")

opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, mse)
for it in range(1, 401):
    idx = mx.random.randint(0, xn.shape[0], (32,))
    loss, g = vg(model, xn[idx], yn[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        print(f"new floor iter {it}: train mse {loss.item():.4f}, val mse {mse(model, xnv, ynv).item():.4f}")
