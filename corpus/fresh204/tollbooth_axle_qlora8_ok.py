# QLoRA-style fine-tune of a small 8-bit quantized classifier: predict vehicle axle class
# from 128 synthetic toll-gantry sensor features. Base weights quantized and frozen,
# only the LoRA adapters train.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear: nn.Linear, rank: int = 8):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims: int, output_dims: int, lora_rank: int = 8, bias: bool = False):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        dtype = self.linear.weight.dtype
        if isinstance(self.linear, nn.QuantizedLinear):
            dtype = self.linear.scales.dtype
        y = self.linear(x.astype(dtype))
        z = (x @ self.lora_a) @ self.lora_b
        return y + 2.0 * z


class AxleNet(nn.Module):
    def __init__(self, d_in=128, d_hid=128, n_cls=5):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_hid)
        self.l2 = nn.Linear(d_hid, d_hid)
        self.head = nn.Linear(d_hid, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def make_data(key, n, W):
    kx, kn = mx.random.split(key)
    x = mx.random.normal((n, 128), key=kx)
    logits = x @ W + 0.3 * mx.random.normal((n, 5), key=kn)
    return x, mx.argmax(logits, axis=1)


mx.random.seed(7)
W_true = mx.random.normal((128, 5)) / math.sqrt(128)
x_tr, y_tr = make_data(mx.random.key(1), 2048, W_true)
x_va, y_va = make_data(mx.random.key(2), 512, W_true)

model = AxleNet()
# the "pretrained" base: a few rough steps of plain training, then quantize to 8 bits
pre_opt = optim.SGD(learning_rate=0.05)
pre_fn = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for _ in range(15):
    _, g = pre_fn(model, x_tr[:256], y_tr[:256])
    pre_opt.update(model, g)
    mx.eval(model.parameters(), pre_opt.state)

nn.quantize(model, group_size=64, bits=8)
model.freeze()
model.l1 = LoRALinear.from_linear(model.l1, rank=8)
model.l2 = LoRALinear.from_linear(model.l2, rank=8)
model.head.freeze()
n_train = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.trainable_parameters()))
print(f"trainable adapter params: {n_train}")


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def accuracy(m, x, y):
    return mx.mean(mx.argmax(m(x), axis=1) == y).item()


print(f"quantized base: val acc {accuracy(model, x_va, y_va):.3f}")
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)
bs = 64
t0 = time.time()
for it in range(1, 401):
    i = ((it - 1) * bs) % 2048
    loss, grads = step(model, x_tr[i:i + bs], y_tr[i:i + bs])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        print(f"Iter {it}: train loss {loss.item():.3f}, val acc {accuracy(model, x_va, y_va):.3f}, "
              f"{it / (time.time() - t0):.1f} it/s")
print(f"final val acc {accuracy(model, x_va, y_va):.3f}")
