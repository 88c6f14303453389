# Tiny mflux-style LoRA fine-tune: frozen "transformer" block + LoRA adapter,
# flow-matching style loss on toy latents, gradient accumulation over micro-batches.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(7)
DIM, RANK = 32, 4
NUM_IMAGES = 6
NUM_EPOCHS = 2
GRAD_ACCUM_STEPS = 16          # effective batch of 16 micro-batches
LR = 0.3


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, scale: float = 1.0):
        super().__init__()
        self.base = base
        in_dim = base.weight.shape[1]
        out_dim = base.weight.shape[0]
        self.lora_A = mx.random.normal((in_dim, rank)) * (1.0 / math.sqrt(in_dim))
        self.lora_B = mx.zeros((rank, out_dim))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


class TinyDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj_in = nn.Linear(DIM, DIM)
        self.attn_out = nn.Linear(DIM, DIM)
        self.proj_out = nn.Linear(DIM, DIM)

    def __call__(self, x, t):
        h = nn.silu(self.proj_in(x) + t)
        h = h + self.attn_out(h)
        return self.proj_out(h)


model = TinyDenoiser()
model.freeze()
model.attn_out = LoRALinear(model.attn_out, RANK)
model.attn_out.freeze(keys=["base"], recurse=True)
model.attn_out.unfreeze(keys=["lora_A", "lora_B"], recurse=False)
model.attn_out.base.freeze()

# the "style" the adapter should learn: a fixed low-rank shift on the velocity
style_U = mx.random.normal((DIM, 2)) * 0.5
style_V = mx.random.normal((2, DIM)) * 0.5
images = [mx.random.normal((8, DIM)) for _ in range(NUM_IMAGES)]


def teacher(xt, t):
    # the frozen block with the style baked into attn_out
    h = nn.silu(model.proj_in(xt) + t)
    h = h + model.attn_out.base(h) + (h @ style_U) @ style_V
    return model.proj_out(h)


def loss_fn(model, x0, noise, t):
    xt = (1 - t) * x0 + t * noise
    pred = model(xt, t)
    target = mx.stop_gradient(teacher(xt, t))
    return mx.mean(mx.sum((pred - target) ** 2, axis=-1))


def eval_loss():
    mx.random.seed(123)
    tot = 0.0
    for x0 in images:
        noise = mx.random.normal(x0.shape)
        tot += loss_fn(model, x0, noise, mx.array(0.5)).item()
    return tot / len(images)


def fold_into_window(grads, accumulated, accum_steps, count):
    if accumulated is not None:
        grads = tree_map(lambda a, g: a + g, accumulated, grads)
    count += 1
    return grads, count, count == accum_steps


optimizer = optim.SGD(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters: {n_train}")
print(f"Validation loss before training: {eval_loss():.5f}")

accumulated_grads, accumulated_count, updates = None, 0, 0
num_iterations = 0
for epoch in range(NUM_EPOCHS):
    for idx, x0 in enumerate(images):
        num_iterations += 1
        noise = mx.random.normal(x0.shape)
        t = mx.random.uniform(shape=(1,))
        loss, grads = loss_and_grad(model, x0, noise, t)
        mx.eval(loss, grads)
        if not math.isfinite(loss.item()):
            print(f"iter {num_iterations}: non-finite loss, skipping micro-batch")
            continue
        grads, accumulated_count, at_boundary = fold_into_window(
            grads, accumulated_grads, GRAD_ACCUM_STEPS, accumulated_count)
        if at_boundary:
            grads = tree_map(lambda g: g / accumulated_count, grads)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            accumulated_grads, accumulated_count = None, 0
            updates += 1
        else:
            accumulated_grads = grads
            mx.eval(accumulated_grads)
        print(f"epoch {epoch} image {idx} iter {num_iterations}: loss {loss.item():.5f}  window {accumulated_count}/{GRAD_ACCUM_STEPS}")

# flush the last (partial) accumulation window
if accumulated_grads is not None:
    grads = tree_map(lambda g: g / accumulated_count, accumulated_grads)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    accumulated_grads, accumulated_count = None, 0
    updates += 1

b_norm = mx.sqrt(mx.sum(model.attn_out.lora_B ** 2)).item()
print(f"Optimizer updates: {updates}")
print(f"LoRA B norm: {b_norm:.5f}")
print(f"Validation loss after training: {eval_loss():.5f}")
