# LoRA adaptation of a small "pretrained" regressor to a shifted task.
# Base weights are frozen, only the low-rank adapters should train.
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lora-adapt")

mx.random.seed(7)
D_IN, HID, D_OUT = 16, 64, 4


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(base, r=4, scale=2.0):
        out_dims, in_dims = base.weight.shape
        m = LoRALinear(in_dims, out_dims, r, scale)
        m.linear = base
        return m

    def __init__(self, in_dims, out_dims, r=4, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D_IN, HID)
        self.fc2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, D_OUT)

    def __call__(self, x):
        h = nn.gelu(self.fc1(x))
        h = nn.gelu(self.fc2(h))
        return self.head(h)


def make_task(key_seed, n):
    k = mx.random.key(key_seed)
    W = mx.random.normal((D_IN, D_OUT), key=k)
    X = mx.random.normal((n, D_IN))
    Y = mx.tanh(X @ W) + 0.05 * mx.random.normal((n, D_OUT))
    return X, Y


def mse(model, X, Y):
    return nn.losses.mse_loss(model(X), Y)


# ---- stage 0: quick "pretraining" on task A -------------------------------
model = Net()
XA, YA = make_task(1, 2048)
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, mse)
for it in range(300):
    idx = mx.random.randint(0, XA.shape[0], (128,))
    loss, g = vg(model, XA[idx], YA[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
log.info("pretrain done, task-A mse=%.4f", mse(model, XA, YA).item())


# ---- stage 1: LoRA on task B -----------------------------------------------
def apply_lora(model, r=4):
    model.fc1 = LoRALinear.from_base(model.fc1, r=r)
    model.fc2 = LoRALinear.from_base(model.fc2, r=r)
    model.head = LoRALinear.from_base(model.head, r=r)
    return model


def freeze_base(model):
    """Freeze base model parameters, keep only the adapters trainable."""
    model.freeze()
    return model


model = freeze_base(apply_lora(model))
n_tr = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
n_all = sum(p.size for _, p in tree_flatten(model.parameters()))
log.info("trainable %d / %d params", n_tr, n_all)

XB, YB = make_task(2, 4096)
XV, YV = XB[3584:], YB[3584:]
XB, YB = XB[:3584], YB[:3584]
opt = optim.AdamW(learning_rate=5e-3, weight_decay=0.0)
vg = nn.value_and_grad(model, mse)

t0 = time.time()
log.info("%6s | %9s | %9s | %6s", "step", "train", "val", "sec")
for step in range(1, 1201):
    idx = mx.random.randint(0, XB.shape[0], (128,))
    loss, grads = vg(model, XB[idx], YB[idx])
    opt.update(model, grads)
    mx.eval(model.trainable_parameters(), opt.state, loss)
    if step % 100 == 0 or step == 1:
        val = mse(model, XV, YV).item()
        log.info("%6d | %9.5f | %9.5f | %6.1f", step, loss.item(), val, time.time() - t0)
log.info("finished")
