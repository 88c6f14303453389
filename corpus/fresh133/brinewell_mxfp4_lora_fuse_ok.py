# LoRA fine-tune of a 4-bit (mxfp4) quantized regressor, then fuse the adapters
# into the base weights for deployment.  Synthetic "brine well conductivity" data.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, r=4, scale=2.0):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims = input_dims * 32 // linear.bits
        lora = LoRALinear(input_dims, output_dims, r=r, scale=scale)
        lora.linear = linear
        return lora

    def fuse(self):
        linear = self.linear
        bias = "bias" in linear
        weight = linear.weight
        is_quantized = isinstance(linear, nn.QuantizedLinear)

        if is_quantized:
            weight = mx.dequantize(
                weight,
                linear.scales,
                linear.get("biases"),
                group_size=linear.group_size,
                bits=linear.bits,
                mode=linear.mode,
            )
        output_dims, input_dims = weight.shape
        fused = nn.Linear(input_dims, output_dims, bias=bias)
        delta = ((self.scale * self.lora_b.T) @ self.lora_a.T).astype(weight.dtype)
        fused.weight = weight + delta
        if bias:
            fused.bias = linear.bias
        if is_quantized:
            fused = nn.QuantizedLinear.from_linear(
                fused, linear.group_size, linear.bits,
                mode=linear.mode,
            )
        return fused

    def __init__(self, input_dims, output_dims, r=4, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims)
        self.scale = scale
        s = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-s, high=s, shape=(input_dims, r))
        self.lora_b = mx.zeros((r, output_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Regressor(nn.Module):
    def __init__(self, d_in=32, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))[..., 0]


mx.random.seed(7)
D = 32
W_true = mx.random.normal((D,)) / math.sqrt(D)
def make(n, shift):
    x = mx.random.normal((n, D))
    y = mx.tanh(x @ W_true) * 3.0 + shift * mx.sin(x[:, 0] * 2.0)
    return x, y

# "pretrain" the full-precision model on the old wells
model = Regressor(D)
pre_opt = optim.Adam(learning_rate=3e-3)
def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)
pre_step = nn.value_and_grad(model, mse)
xo, yo = make(2048, 0.0)
for it in range(300):
    idx = mx.random.randint(0, 2048, (128,))
    l, g = pre_step(model, xo[idx], yo[idx])
    pre_opt.update(model, g)
    mx.eval(model.parameters(), pre_opt.state, l)
print(f"pretrain done: mse={l.item():.4f}")

# quantize the hidden layers to mxfp4, freeze, attach LoRA
nn.quantize(model, group_size=32, bits=4, mode="mxfp4",
            class_predicate=lambda p, m: isinstance(m, nn.Linear) and p in ("l1", "l2"))
model.freeze()
model.l1 = LoRALinear.from_base(model.l1, r=4)
model.l2 = LoRALinear.from_base(model.l2, r=4)
print("trainable params:", sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters())))

xn, yn = make(2048, 1.5)
xv, yv = make(512, 1.5)
print(f"quantized base (no adapters yet) val mse = {mse(model, xv, yv).item():.4f}")
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
step = nn.value_and_grad(model, mse)
t0 = time.time()
for it in range(1, 401):
    idx = mx.random.randint(0, 2048, (128,))
    l, g = step(model, xn[idx], yn[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, l)
    if it % 50 == 0:
        v = mse(model, xv, yv)
        print(f"[lora] it {it:4d} | train {l.item():.4f} | val {v.item():.4f} | {time.time()-t0:.1f}s")

val_adapter = mse(model, xv, yv).item()
print(f"adapter model val mse = {val_adapter:.4f}")

# fuse adapters back into the quantized base for export
model.l1 = model.l1.fuse()
model.l2 = model.l2.fuse()
val_fused = mse(model, xv, yv).item()
print(f"fused model val mse   = {val_fused:.4f} (adapter {val_adapter:.4f}; re-quantizing the merged weights to mxfp4 costs a little)")
mx.savez("/tmp/brinewell_fused_c.npz", **dict(nn.utils.tree_flatten(model.parameters())))
print("exported fused weights")
