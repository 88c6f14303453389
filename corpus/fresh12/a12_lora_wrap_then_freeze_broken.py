# LoRA fine-tune of a small "pretrained" regressor on a shifted task.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
D, H = 16, 64


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        bound = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, H)
        self.fc2 = nn.Linear(H, H)
        self.out = nn.Linear(H, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.fc2(nn.gelu(self.fc1(x)))))


# "pretraining" task
W_pre = mx.random.normal((D, 1))
X = mx.random.normal((1024, D))
model = Net()
pre_opt = optim.Adam(learning_rate=1e-2)
pre_step = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
for _ in range(150):
    _, g = pre_step(model, X, X @ W_pre)
    pre_opt.update(model, g)
    mx.eval(model.parameters(), pre_opt.state)

# fine-tuning task: shifted target
W_ft = W_pre + 0.7 * mx.random.normal((D, 1))
Xft = mx.random.normal((512, D))
Yft = mx.tanh(Xft @ W_ft)

model.fc1 = LoRALinear(model.fc1)
model.fc2 = LoRALinear(model.fc2)
model.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters: {100 * n_train / n_all:.3f}% ({n_train}/{n_all})")


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


opt = optim.AdamW(learning_rate=5e-3)
step = nn.value_and_grad(model, loss_fn)
for it in range(1, 401):
    idx = mx.random.randint(0, 512, (64,))
    loss, grads = step(model, Xft[idx], Yft[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        val = loss_fn(model, Xft, Yft).item()
        print(f"Iter {it}: Train loss {loss.item():.4f}, Val loss {val:.4f}")
