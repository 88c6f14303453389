# LoRA-adapt a small "policy" MLP to a new robot arm calibration, then fuse the
# adapters into the base weights for export (as mlx-vla's merge_lora does).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
D = 48


class LoRALayer(nn.Module):
    def __init__(self, base_layer, rank=4, alpha=8.0):
        super().__init__()
        self.base_layer = base_layer
        self.scaling = alpha / rank
        in_dim = base_layer.weight.shape[1]
        out_dim = base_layer.weight.shape[0]
        self.lora_A = nn.Linear(in_dim, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_dim, bias=False)
        self.lora_B.weight = mx.zeros_like(self.lora_B.weight)

    def __call__(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.query_proj = nn.Linear(D, D)
        self.value_proj = nn.Linear(D, D)
        self.head = nn.Linear(D, 7)

    def __call__(self, x):
        h = nn.gelu(self.query_proj(x))
        h = nn.gelu(self.value_proj(h))
        return self.head(h)


def merge_lora(model):
    for name in ["query_proj", "value_proj"]:
        module = getattr(model, name)
        lora_A_weight = module.lora_A.weight  # (in_dim, rank)
        lora_B_weight = module.lora_B.weight  # (out_dim, rank)
        lora_contribution = mx.matmul(mx.transpose(lora_A_weight), mx.transpose(lora_B_weight)) * module.scaling
        module.base_layer.weight = module.base_layer.weight + lora_contribution
        setattr(model, name, module.base_layer)
    return model


# "teacher": the base policy with a low-rank recalibration of its hidden layers
base = Policy()
mx.eval(base.parameters())
teacher = Policy()
teacher.update(base.parameters())
for name in ["query_proj", "value_proj"]:
    lay = getattr(teacher, name)
    u = mx.random.normal((D, 3)) * 0.35
    v = mx.random.normal((3, D)) * 0.35
    lay.weight = lay.weight + u @ v
mx.eval(teacher.parameters())

X = mx.random.normal((1024, D))
Y = teacher(X)
Xv = mx.random.normal((256, D))
Yv = teacher(Xv)
mx.eval(X, Y, Xv, Yv)

model = Policy()
model.update(base.parameters())
model.freeze()
model.query_proj = LoRALayer(model.query_proj)
model.value_proj = LoRALayer(model.value_proj)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, 2001):
    idx = mx.random.randint(0, X.shape[0], (64,))
    loss, grads = vg(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 200 == 0:
        val = loss_fn(model, Xv, Yv)
        print(f"step {step:4d}  train_mse {loss.item():.5f}  val_mse {val.item():.5f}")

pre = loss_fn(model, Xv, Yv).item()
model = merge_lora(model)
mx.eval(model.parameters())
post = loss_fn(model, Xv, Yv).item()
base_val = loss_fn(base, Xv, Yv).item()
print(f"val_mse adapters={pre:.5f}  fused={post:.5f}  (base policy {base_val:.5f})")
model.save_weights("/tmp/armpose_fused_e.safetensors")
print(f"saved fused policy in {time.time() - t0:.1f}s")
