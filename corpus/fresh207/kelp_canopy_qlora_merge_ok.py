# QLoRA on a 4-bit base regressor, then merge the adapters for deployment.
# Kelp canopy reflectance -> biomass bands (synthetic).
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
D_IN, D_HID, D_OUT = 64, 128, 8
GROUP, BITS = 64, 4


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, D_HID)
        self.l2 = nn.Linear(D_HID, D_OUT)

    def __call__(self, x):
        return 30.0 * self.l2(nn.gelu(self.l1(x)))


class LoRA(nn.Module):
    def __init__(self, base, r=4, alpha=8.0):
        super().__init__()
        self.linear = base
        in_dims = base.weight.shape[1] * 32 // base.bits
        out_dims = base.weight.shape[0]
        self.scale = alpha / r
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_dims), 1 / math.sqrt(in_dims), (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)

    def fuse(self):
        q = self.linear
        w = mx.dequantize(q.weight, q.scales, q.biases, q.group_size, q.bits)
        delta = self.scale * (self.lora_b.T @ self.lora_a.T)
        out_dims, in_dims = w.shape
        merged = nn.Linear(in_dims, out_dims)
        merged.weight = w + delta
        merged.bias = q.bias
        return merged


# "pretrained" base, shipped 4-bit
model = Base()
nn.quantize(model, group_size=GROUP, bits=BITS)
mx.eval(model.parameters())

# the new site: same sensor, slightly different response (low-rank drift)
drift1 = 0.006 * mx.random.normal((D_HID, 2)) @ mx.random.normal((2, D_IN)) / math.sqrt(2)
teacher_w1 = mx.dequantize(model.l1.weight, model.l1.scales, model.l1.biases, GROUP, BITS) + drift1


def teacher(x):
    h = nn.gelu(x @ teacher_w1.T + model.l1.bias)
    return 30.0 * model.l2(h)


X = mx.random.normal((2048, D_IN))
Y = teacher(X) + 0.05 * mx.random.normal((2048, D_OUT))
Xv = mx.random.normal((512, D_IN))
Yv = teacher(Xv) + 0.05 * mx.random.normal((512, D_OUT))
mx.eval(X, Y, Xv, Yv)


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


base_val = mse(model, Xv, Yv).item()
print(f"[site-B] base 4-bit model  val_mse={base_val:.6f}")

model.freeze()
model.l1 = LoRA(model.l1)
model.l2 = LoRA(model.l2)
n_train = sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.trainable_parameters()))
print(f"[site-B] trainable adapter params: {n_train}")

opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, mse)
t0 = time.time()
BS = 128
for step in range(1, 401):
    i = (step * BS) % X.shape[0]
    xb, yb = X[i:i + BS], Y[i:i + BS]
    loss, grads = loss_and_grad(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        v = mse(model, Xv, Yv).item()
        print(f"step {step:4d}  train_mse {loss.item():.6f}  val_mse {v:.6f}")

adapter_val = mse(model, Xv, Yv).item()
print(f"[site-B] adapters on top of 4-bit base  val_mse={adapter_val:.6f}  ({time.time()-t0:.1f}s)")

# merge adapters into the base for deployment
model.l1 = model.l1.fuse()
model.l2 = model.l2.fuse()
mx.eval(model.parameters())
fused_val = mse(model, Xv, Yv).item()
print(f"[site-B] merged model            val_mse={fused_val:.6f}")
print(f"summary: base {base_val:.6f} -> adapters {adapter_val:.6f} -> merged {fused_val:.6f}")
