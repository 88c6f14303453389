"""Kiln glaze colour model: adapt a frozen bf16 base to a new clay body with LoRA."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(7)

IN_DIM, HID, OUT_DIM, RANK = 48, 96, 12, 8
STEPS, BATCH, LR, MAX_NORM = 2000, 32, 3e-5, 1.0


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float = 8.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))
        self.scale = alpha / rank

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(y.dtype)


class GlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IN_DIM, HID)
        self.norm = nn.LayerNorm(HID)
        self.fc2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, OUT_DIM)

    def __call__(self, x):
        h = nn.gelu(self.fc1(x))
        h = self.norm(h)
        h = nn.gelu(self.fc2(h))
        return self.head(h)


def make_teacher(base):
    # the new clay body shifts the response of both hidden layers by a low-rank term
    t = GlazeNet()
    t.update(base.parameters())
    for name in ("fc1", "fc2"):
        lin = getattr(t, name)
        o, i = lin.weight.shape
        u = mx.random.normal((o, 3)) * 0.8
        v = mx.random.normal((3, i)) / math.sqrt(i)
        lin.weight = lin.weight + u @ v
    return t


base = GlazeNet()
mx.eval(base.parameters())
teacher = make_teacher(base)
mx.eval(teacher.parameters())

model = GlazeNet()
model.update(base.parameters())
model.freeze()
model.fc1 = LoRALinear(model.fc1, RANK)
model.fc2 = LoRALinear(model.fc2, RANK)
model.norm.unfreeze()
model.head.unfreeze(keys=["bias"])
model.set_dtype(mx.bfloat16)
mx.eval(model.parameters())

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}  dtype: {model.fc1.lora_a.dtype}")

X_val = mx.random.normal((512, IN_DIM))
Y_val = teacher(X_val)


def loss_fn(m, x, y):
    pred = m(x.astype(mx.bfloat16)).astype(mx.float32)
    return mx.mean(mx.square(pred - y))


loss_and_grad = nn.value_and_grad(model, loss_fn)
optimizer = optim.AdamW(learning_rate=LR, weight_decay=0.0)


def clip_by_global_norm(grads, max_norm):
    sq = sum(mx.sum(mx.square(g.astype(mx.float32))) for _, g in tree_flatten(grads))
    norm = mx.sqrt(sq)
    scale = mx.minimum(max_norm / (norm + 1e-6), 1.0)
    return tree_map(lambda g: g * scale, grads), norm


def _is_norm_parameter_name(name):
    return any("norm" in part.lower() for part in name.split(".") if part)


def _is_lora_parameter_name(name):
    return any("lora" in part.lower() for part in name.split(".") if part)


# norm-clipped updates promote parameters to float32; recast them to their storage dtype
storage_dtypes = {
    name: v.dtype
    for name, v in tree_flatten(model.trainable_parameters())
    if not _is_norm_parameter_name(name)
    and not _is_lora_parameter_name(name)
}


def restore_storage_dtypes():
    recast, changed = [], False
    for name, v in tree_flatten(model.trainable_parameters()):
        dt = storage_dtypes.get(name)
        if dt is not None and v.dtype != dt:
            v = v.astype(dt)
            changed = True
        recast.append((name, v))
    if changed:
        model.update(tree_unflatten(recast))


baseline = loss_fn(model, X_val, Y_val).item()
print(f"step 0 | val mse {baseline:.5f} (frozen base)")
t0 = time.time()
for step in range(1, STEPS + 1):
    x = mx.random.normal((BATCH, IN_DIM))
    y = teacher(x)
    loss, grads = loss_and_grad(model, x, y)
    grads, gnorm = clip_by_global_norm(grads, MAX_NORM)
    optimizer.update(model, grads)
    restore_storage_dtypes()
    mx.eval(model.parameters(), optimizer.state, loss, gnorm)
    if step % 200 == 0:
        val = loss_fn(model, X_val, Y_val).item()
        print(f"step {step} | train mse {loss.item():.5f} | val mse {val:.5f} | grad norm {gnorm.item():.3f}")

final = loss_fn(model, X_val, Y_val).item()
print(f"done in {time.time() - t0:.1f}s | val mse {baseline:.5f} -> {final:.5f} ({100 * (1 - final / baseline):.1f}% lower)")
