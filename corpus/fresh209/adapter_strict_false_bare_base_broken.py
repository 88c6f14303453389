# Pretrain a small sector classifier, LoRA-finetune it to a relabelled task,
# save only the adapter, then reload the adapter onto a fresh copy of the base
# for a final check (as one would before shipping the adapter).
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
WORK = tempfile.mkdtemp(prefix="sectors_")
BASE_FILE = os.path.join(WORK, "base.safetensors")
ADAPTER_FILE = os.path.join(WORK, "adapters.safetensors")


def make_data(n, swap):
    ang = mx.random.uniform(0, 6.283185, (n,))
    rad = mx.random.uniform(0.3, 1.0, (n,))
    x = mx.stack([rad * mx.cos(ang), rad * mx.sin(ang)], axis=1)
    sector = mx.floor(ang / 1.5707963).astype(mx.int32) % 4
    if swap:  # task B: sectors 0 and 1 trade labels
        sector = mx.where(sector == 0, 1, mx.where(sector == 1, 0, sector))
    return x, sector


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 4)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


class LoRALinear(nn.Module):
    def __init__(self, linear, r=8, scale=2.0):
        super().__init__()
        out_d, in_d = linear.weight.shape
        self.linear = linear
        self.scale = scale
        self.lora_a = mx.random.normal((in_d, r)) * (1.0 / in_d) ** 0.5
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def attach_lora(model):
    model.freeze()
    for name in ("l1", "l2", "l3"):
        setattr(model, name, LoRALinear(getattr(model, name)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def train(model, opt, x, y, steps, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for s in range(1, steps + 1):
        idx = mx.random.randint(0, x.shape[0], (128,))
        loss, grads = step_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if s % 50 == 0 or s == 1:
            print(f"[{tag}] step {s:4d}  loss {loss.item():.4f}  acc {accuracy(model, x, y):.3f}")


# stage 1: pretrain the base on task A (sector id)
xa, ya = make_data(2048, swap=False)
base = Net()
mx.eval(base.parameters())
train(base, optim.Adam(learning_rate=1e-2), xa, ya, 300, "base")
base.save_weights(BASE_FILE)

# stage 2: LoRA finetune on task B (sectors 0/1 swapped)
xb, yb = make_data(2048, swap=True)
print(f"base on task B before finetune: acc {accuracy(base, xb, yb):.3f}")
attach_lora(base)
n_train = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
print(f"trainable params: {n_train}")
train(base, optim.Adam(learning_rate=1e-2), xb, yb, 400, "lora")
tuned_acc = accuracy(base, xb, yb)
mx.save_safetensors(ADAPTER_FILE, dict(tree_flatten(base.trainable_parameters())))

# stage 3: reload base + adapter into a fresh model and check it
fresh = Net()
fresh.load_weights(BASE_FILE)
fresh.load_weights(ADAPTER_FILE, strict=False)
mx.eval(fresh.parameters())
xt, yt = make_data(1024, swap=True)
reload_acc = accuracy(fresh, xt, yt)
reload_loss = loss_fn(fresh, xt, yt).item()
print(f"reloaded adapter on task B: loss {reload_loss:.4f} acc {reload_acc:.3f} (in-memory after finetune {tuned_acc:.3f})")
