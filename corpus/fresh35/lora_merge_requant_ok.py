# LoRA fine-tune of a 4-bit quantized linear "base model", then merge the adapter
# into the base weights and evaluate the merged model (what gets shipped).
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
rng = np.random.default_rng(3)
D_IN, D_OUT, RANK = 256, 64, 4
GS, BITS = 64, 4

# "pretrained" base weights, stored 4-bit
W0 = mx.random.normal((D_OUT, D_IN)) * 0.08
Wq, sc, bi = mx.quantize(W0, group_size=GS, bits=BITS)
W_base = mx.dequantize(Wq, sc, bi, group_size=GS, bits=BITS)

# the fine-tuning task differs from the base by a small low-rank shift
U = mx.random.normal((D_OUT, RANK)) * 0.05
V = mx.random.normal((RANK, D_IN)) * 0.05
W_task = W_base + U @ V
X = mx.random.normal((2048, D_IN))
Y = X @ W_task.T + 0.01 * mx.random.normal((2048, D_OUT))
Xv = mx.random.normal((512, D_IN))
Yv = Xv @ W_task.T


class LoRAQLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.QuantizedLinear(D_IN, D_OUT, bias=False, group_size=GS, bits=BITS)
        self.base.weight, self.base.scales, self.base.biases = Wq, sc, bi
        self.base.freeze()
        self.lora_a = mx.random.normal((D_IN, RANK)) * (1.0 / D_IN ** 0.5)
        self.lora_b = mx.zeros((RANK, D_OUT))
        self.scale = 2.0

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = LoRAQLinear()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, mse)
print(json.dumps({"event": "start", "val_mse": round(mse(model, Xv, Yv).item(), 6)}))

t0 = time.time()
for step in range(1, 801):
    idx = mx.array(rng.integers(0, X.shape[0], size=64))
    loss, grads = loss_and_grad(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 100 == 0:
        print(json.dumps({"step": step, "loss": round(loss.item(), 6),
                          "val_mse": round(mse(model, Xv, Yv).item(), 6),
                          "sec": round(time.time() - t0, 2)}))

# ---- fuse the adapter into the base and export ----
delta = model.scale * (model.lora_a @ model.lora_b).T
fused_w = mx.dequantize(model.base.weight, model.base.scales, model.base.biases,
                        group_size=GS, bits=BITS) + delta
merged = nn.Linear(D_IN, D_OUT, bias=False)
merged.weight = fused_w
merged_val = mx.mean((merged(Xv) - Yv) ** 2).item()
print(json.dumps({"event": "merged", "val_mse": round(merged_val, 6),
                  "adapter_val_mse": round(mse(model, Xv, Yv).item(), 6)}))
