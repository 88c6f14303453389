# LoRA+ fine-tune of a tiny tied-embedding token mapper.
# The base (embedding, tied output head, body projection) is frozen; only the
# LoRA adapters train.  LoRA+ gives lora_b a learning rate `ratio` times the base.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
V, D, R = 24, 32, 16


class LoRALinear(nn.Module):
    def __init__(self, d_in, d_out, r, scale=2.0):
        super().__init__()
        self.base = nn.Linear(d_in, d_out, bias=False)
        self.lora_a = mx.random.uniform(-1, 1, (d_in, r)) / d_in ** 0.5
        self.lora_b = mx.zeros((r, d_out))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TiedMapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.body = LoRALinear(D, D, R)

    def __call__(self, tok):
        h = self.embed(tok)
        h = self.body(h)
        return self.embed.as_linear(h) * 4.0   # output head tied to the embedding


model = TiedMapper()
model.freeze()
model.body.unfreeze(keys=["lora_a", "lora_b"], recurse=False)

perm = mx.random.permutation(V)
base_lr = 1e-5
lora_plus_ratio = 16.0
opt = optim.AdamW(learning_rate=base_lr, weight_decay=0.0)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    pre_b = model.body.lora_b
    opt.update(model, grads)
    model.body.lora_b = pre_b + lora_plus_ratio * (model.body.lora_b - pre_b)
    mx.eval(model.parameters(), opt.state, loss)
    return loss


n_tr = sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_tr}  base_lr={base_lr}  lora_plus_ratio={lora_plus_ratio}")
for step in range(1, 401):
    x = mx.random.randint(0, V, (256,))
    y = perm[x]
    loss = train_step(x, y)
    if step % 40 == 0 or step == 1:
        acc = mx.mean(mx.argmax(model(mx.arange(V)), axis=-1) == perm).item()
        bn = mx.sqrt(mx.sum(model.body.lora_b ** 2)).item()
        print(f"step {step:3d} | loss {loss.item():.4f} | map acc {acc*100:5.1f}% | |B| {bn:.3f}")
