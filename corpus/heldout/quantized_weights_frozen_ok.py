"""Distil a teacher MLP into a student, quantizing the student to 4 bits to save memory."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def mlp():
    return nn.Sequential(
        nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 64))


mx.random.seed(0)
teacher = mlp()
student = mlp()

n_train = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
print(f"student trainable parameters: {n_train}")

opt = optim.Adam(learning_rate=1e-3)
distill = nn.value_and_grad(student, lambda m, x: nn.losses.mse_loss(m(x), 10 * teacher(x)))

for step in range(1, 401):
    x = mx.random.normal((64, 64))
    loss, grads = distill(student, x)
    opt.update(student, grads)
    mx.eval(student.parameters(), opt.state, loss)
    if step % 40 == 0 or step == 1:
        print(f"step {step:4d}  distill_mse {loss.item():.5f}")

nn.quantize(student, group_size=32, bits=4)
print("saving student")
