"""Continue training a LoRA-adapted MLP: freeze the base, train only the adapters."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lora")
mx.random.seed(5)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = 4, scale: float = 2.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = scale
        self.lora_A = mx.random.normal((in_dims, rank)) * (1.0 / math.sqrt(in_dims))
        self.lora_B = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


class MLP(nn.Module):
    def __init__(self, d_in=16, hidden=64, d_out=4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, d_out)

    def __call__(self, x):
        return self.out(nn.silu(self.fc2(nn.silu(self.fc1(x)))))


# "pretrained" base and a shifted downstream task produced by a perturbed copy
model = MLP()
teacher = MLP()
teacher.update(model.parameters())
delta_scale = 0.15
teacher.fc1.weight = teacher.fc1.weight + delta_scale * mx.random.normal(teacher.fc1.weight.shape)
teacher.fc2.weight = teacher.fc2.weight + delta_scale * mx.random.normal(teacher.fc2.weight.shape)
X = mx.random.normal((2048, 16))
Y = teacher(X)
mx.eval(X, Y)

for name in ("fc1", "fc2", "out"):
    setattr(model, name, LoRALinear(getattr(model, name), rank=4))

# continued training: only the adapters (and the output bias) should move
model.freeze()
model.unfreeze(keys=["lora_A", "lora_B"], strict=False)
model.out.base.unfreeze(keys=["bias"])
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

ITERS, BATCH = 600, 64
for it in range(1, ITERS + 1):
    idx = mx.random.randint(0, X.shape[0], (BATCH,))
    loss, grads = loss_and_grad(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        val = loss_fn(model, X[:512], Y[:512]).item()
        log.info("Iter %d: train loss %.5f, val loss %.5f", it, loss.item(), val)
