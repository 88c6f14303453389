# Full fine-tune (no LoRA) of a small "pretrained" regressor whose checkpoint is
# stored in bfloat16, the way mlx-community checkpoints usually are.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

model = nn.Sequential(
    nn.Linear(32, 128), nn.GELU(),
    nn.Linear(128, 128), nn.GELU(),
    nn.Linear(128, 8),
)
# weights come from a bf16 checkpoint; train in float32
model.set_dtype(mx.float32)
mx.eval(model.parameters())

W = mx.random.normal((32, 8), key=mx.random.key(1)) * 0.3


def batch(n=64):
    x = mx.random.normal((n, 32))
    return x, mx.tanh(x @ W)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x).astype(mx.float32), y)


optimizer = optim.AdamW(learning_rate=2e-5, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(model, loss_fn)
STEPS = 900

print("| step | train loss (avg 100) | elapsed |")
print("|-----:|---------------------:|--------:|")
t0 = time.time()
acc = 0.0
for step in range(1, STEPS + 1):
    x, y = batch()
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    acc += loss.item()
    if step % 100 == 0:
        print(f"| {step:4d} | {acc / 100:20.4f} | {time.time() - t0:6.1f}s |")
        acc = 0.0
