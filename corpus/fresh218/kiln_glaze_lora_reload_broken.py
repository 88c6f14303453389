# Kiln B glaze adapter: pretrain a glaze-outcome classifier on kiln A logs,
# then LoRA-adapt it to kiln B in two sessions (save adapters, reload, continue).
import math, os, tempfile
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
N_FEAT, N_CLS = 6, 4


def make_logs(n, kiln):
    x = mx.random.normal((n, N_FEAT))
    w = mx.array([[1.2, -0.6, 0.3, 0.0], [0.4, 1.0, -0.8, 0.2], [-0.5, 0.3, 1.1, -0.4],
                  [0.0, -0.7, 0.2, 1.0], [0.6, 0.1, -0.3, 0.5], [-0.2, 0.5, 0.4, -0.9]])
    if kiln == "B":  # kiln B fires hotter on the left side: cone/soak coupling flips
        w = w + mx.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.4, -1.0, 0.0, 0.0],
                          [-1.0, 1.2, 0.0, 0.0], [0.0, 0.0, 0.9, -0.9], [0.0, 0.0, 0.0, 0.0]])
    y = mx.argmax(x @ w + 0.3 * mx.random.normal((n, N_CLS)), axis=1)
    return x, y


class LoRALinear(nn.Module):
    def __init__(self, linear, rank=4, scale=2.0):
        super().__init__()
        out_d, in_d = linear.weight.shape
        self.linear = linear
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class GlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, N_CLS)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


def add_lora(model):
    model.freeze()
    model.l1 = LoRALinear(model.l1)
    model.l2 = LoRALinear(model.l2)
    return model


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def run_steps(model, opt, x, y, steps, tag):
    step = nn.value_and_grad(model, loss_fn)
    for i in range(steps):
        idx = mx.random.randint(0, x.shape[0], (64,))
        loss, g = step(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if i % 50 == 0 or i == steps - 1:
            print(f"[{tag}] step {i:4d} loss {loss.item():.4f}")


xa, ya = make_logs(2000, "A")
xb, yb = make_logs(600, "B")
xb_val, yb_val = make_logs(800, "B")

workdir = tempfile.mkdtemp(prefix="kiln_")
base_path = os.path.join(workdir, "base.safetensors")
adapter_path = os.path.join(workdir, "adapters.safetensors")

# ---- pretrain on kiln A ----
base = GlazeNet()
run_steps(base, optim.Adam(learning_rate=3e-3), xa, ya, 300, "kilnA")
base.save_weights(base_path)
print(f"kiln A model on kiln B val: acc {acc(base, xb_val, yb_val):.3f}")

# ---- session 1: LoRA on kiln B ----
model = GlazeNet()
model.load_weights(base_path)
model = add_lora(model)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"session 1: trainable params {n_train}")
run_steps(model, optim.Adam(learning_rate=5e-3), xb, yb, 200, "loraB-1")
print(f"session 1 end: kiln B val acc {acc(model, xb_val, yb_val):.3f}")
mx.save_safetensors(adapter_path, dict(tree_flatten(model.trainable_parameters())))

# ---- session 2: reload base + adapters, continue ----
model2 = GlazeNet()
model2.load_weights(base_path)
model2 = add_lora(model2)
model2.load_weights(adapter_path)
print(f"session 2 start: kiln B val acc {acc(model2, xb_val, yb_val):.3f}")
run_steps(model2, optim.Adam(learning_rate=2e-3), xb, yb, 200, "loraB-2")
print(f"session 2 end: kiln B val acc {acc(model2, xb_val, yb_val):.3f}")
