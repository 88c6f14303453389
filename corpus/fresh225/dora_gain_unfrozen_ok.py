# DoRA fine-tune of a small "pretrained" MLP toward a target whose rows are rescaled.
# get_peft_model wraps each Linear in a DoRA layer; base weights stay frozen.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)


class DoRALinear(nn.Module):
    def __init__(self, linear, r=2, scale=2.0):
        super().__init__()
        out_dims, in_dims = linear.weight.shape
        self.linear = linear
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))
        self.m = mx.linalg.norm(linear.weight, axis=1)
        self._scale = scale

    def __call__(self, x):
        w = self.linear.weight + self._scale * (self.lora_b.T @ self.lora_a.T)
        denom = mx.stop_gradient(mx.linalg.norm(w, axis=1))
        y = (x @ w.T) * (self.m / denom)
        if "bias" in self.linear:
            y = y + self.linear.bias
        return y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.fc2 = nn.Linear(24, 6)

    def __call__(self, x):
        return self.fc2(nn.gelu(self.fc1(x)))


def get_peft_model(model, r=2, use_dora=True):
    model.fc1 = DoRALinear(model.fc1, r)
    model.fc2 = DoRALinear(model.fc2, r)
    model.freeze()
    model.unfreeze(keys=["lora_a", "lora_b", "m"], strict=False)
    return model


base = Net()
mx.eval(base.parameters())

# target: same network but every output row of each layer rescaled (a magnitude change)
s1 = mx.random.uniform(0.4, 1.6, (24,))
s2 = mx.random.uniform(0.4, 1.6, (6,))
W1, b1 = base.fc1.weight, base.fc1.bias
W2, b2 = base.fc2.weight, base.fc2.bias


def teacher(x):
    h = nn.gelu((x @ W1.T) * s1 + b1)
    return (h @ W2.T) * s2 + b2


X = mx.random.normal((2048, 12))
Y = teacher(X)
mx.eval(X, Y)

model = get_peft_model(base, r=2)
m0 = [mx.array(model.fc1.m), mx.array(model.fc2.m)]
mx.eval(m0)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, loss_fn)

for step in range(1, 401):
    idx = mx.random.randint(0, X.shape[0], (64,))
    loss, grads = step_fn(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0 or step == 1:
        drift = float(mx.abs(model.fc1.m - m0[0]).max()) + float(mx.abs(model.fc2.m - m0[1]).max())
        full = float(loss_fn(model, X, Y))
        print(f"step {step:4d}  batch_mse {loss.item():.3e}  full_mse {full:.3e}  |dm| {drift:.4f}")

print(f"final full_mse {float(loss_fn(model, X, Y)):.3e}")
