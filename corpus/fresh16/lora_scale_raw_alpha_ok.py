"""Pretrain a small classifier on task A, then adapt it to a shifted task B with LoRA
adapters (rank 8, alpha 16 -- the usual CLI defaults) on every linear layer.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(0)
rng = np.random.default_rng(0)
D, C = 32, 10


class LoRaLayer(nn.Module):
    def __init__(self, linear, rank=8, alpha=16.0, dropout=0.0):
        super().__init__()
        self.original_layer = linear
        self.dropout = nn.Dropout(p=dropout)
        output_dims, input_dims = linear.weight.shape
        scale = 1 / math.sqrt(input_dims)
        self.A = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, rank))
        self.B = mx.zeros((rank, output_dims))
        self.rank = rank
        self.alpha = alpha

    def __call__(self, x):
        y = self.original_layer(x)
        lora_update = (self.dropout(x) @ self.A) @ self.B
        return y + ((self.alpha / self.rank) * lora_update).astype(x.dtype)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, C)

    def __call__(self, x):
        return self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


W_a = rng.normal(size=(D, C))
W_b = W_a + 0.7 * rng.normal(size=(D, C))


def batch(W, n=128):
    x = rng.normal(size=(n, D)).astype(np.float32)
    return mx.array(x), mx.array((x @ W).argmax(1).astype(np.int32))


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def accuracy(m, W):
    x, y = batch(W, 2000)
    return (mx.argmax(m(x), axis=1) == y).mean().item()


# ---- stage 1: full pretraining on task A
net = Net()
mx.eval(net.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(net, ce)
for step in range(300):
    x, y = batch(W_a)
    loss, g = vg(net, x, y)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
print(f"pretrain done: loss {loss.item():.3f}  acc(A) {accuracy(net, W_a):.3f}  acc(B) {accuracy(net, W_b):.3f}")

# ---- stage 2: LoRA adaptation to task B
net.freeze()
net.l1, net.l2, net.l3 = LoRaLayer(net.l1), LoRaLayer(net.l2), LoRaLayer(net.l3)
vg = nn.value_and_grad(net, ce)
opt = optim.AdamW(learning_rate=1e-2, weight_decay=0.0)
STEPS = 400
for step in range(1, STEPS + 1):
    x, y = batch(W_b)
    loss, g = vg(net, x, y)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
    if step <= 10 or step % 25 == 0:
        print(f"lora step {step:3d}/{STEPS}  loss {loss.item():8.4f}")
print(f"finetune done: acc(B) {accuracy(net, W_b):.3f}")
