# LoRA fine-tune of a small frozen "vision-language" head (mlx-vlm style LoRaLayer).
# Patch features -> caption-token classifier. Base is pretrained on task A, frozen,
# then LoRA adapters are trained on a new caption vocabulary mapping (task B).
import math
import time
from typing import Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class LoRaLayer(nn.Module):
    def __init__(
        self,
        linear: Union[nn.Linear, nn.QuantizedLinear],
        rank: int,
        alpha: float = 0.1,
        dropout: float = 0.0,
        name: str = None,
    ):
        super().__init__()

        self.base_layer = linear
        self.dropout = nn.Dropout(p=dropout)

        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits

        std_dev = 1 / math.sqrt(rank)

        self.A = mx.random.uniform(
            low=-std_dev,
            high=std_dev,
            shape=(input_dims, rank),
        )
        self.B = mx.ones((rank, output_dims))

        self.alpha = alpha

    def __call__(self, x):
        y = self.base_layer(x)
        return y
        # lora_update = (self.dropout(x) @ self.A) @ self.B
        # return y + (self.alpha * lora_update).astype(x.dtype)


class PatchCaptioner(nn.Module):
    def __init__(self, d_in=32, d_hid=96, vocab=12):
        super().__init__()
        self.proj = nn.Linear(d_in, d_hid)
        self.mix = nn.Linear(d_hid, d_hid)
        self.head = nn.Linear(d_hid, vocab)

    def __call__(self, x):
        h = nn.gelu(self.proj(x))
        h = nn.gelu(self.mix(h))
        return self.head(h)


def make_task(key, n, d_in=32, vocab=12):
    k1, k2 = mx.random.split(key)
    teacher = mx.random.normal((d_in, vocab), key=k1)
    x = mx.random.normal((n, d_in), key=k2)
    y = mx.argmax(x @ teacher, axis=-1)
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


mx.random.seed(7)
keyA, keyB = mx.random.split(mx.random.key(11))
xa, ya = make_task(keyA, 1024)
# task B: same patches, captions re-indexed into a new vocabulary order
perm = mx.random.permutation(12, key=keyB)
xb, yb = xa, perm[ya]
xb_val, yb_val = xb[896:], yb[896:]
xb, yb = xb[:896], yb[:896]

model = PatchCaptioner()
mx.eval(model.parameters())

# ---- stage 0: pretrain base on task A
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
for it in range(150):
    idx = mx.random.randint(0, xa.shape[0], (64,))
    loss, grads = step_fn(model, xa[idx], ya[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
print(f"[base] task-A acc {accuracy(model, xa, ya):.3f}  task-B acc {accuracy(model, xb_val, yb_val):.3f}")

# ---- stage 1: freeze base, attach LoRA, train adapters on task B
model.freeze()
model.proj = LoRaLayer(model.proj, rank=8, alpha=0.1)
model.mix = LoRaLayer(model.mix, rank=8, alpha=0.1)
model.head = LoRaLayer(model.head, rank=8, alpha=0.1)
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[lora] trainable {n_train:,} / {n_all:,} params ({100 * n_train / n_all:.1f}%)")

opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, loss_fn)
tic = time.perf_counter()
for it in range(1, 401):
    idx = mx.random.randint(0, xb.shape[0], (64,))
    loss, grads = step_fn(model, xb[idx], yb[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        gnorm = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
        print(
            f"Iter {it:3d}: Train loss {loss.item():.3f}, Val acc {accuracy(model, xb_val, yb_val):.3f}, "
            f"grad-norm {gnorm:.4f}, It/sec {it / (time.perf_counter() - tic):.1f}"
        )
print(f"[done] final val acc {accuracy(model, xb_val, yb_val):.3f}")
