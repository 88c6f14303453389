"""1-D deformable sampling toy: a layer predicts sampling offsets, values are read by
linear interpolation at (position + offset) and mixed by attention weights."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

L, D, P = 32, 8, 4


class DeformAttn1D(nn.Module):
    def __init__(self):
        super().__init__()
        self.value_proj = nn.Linear(D, D)
        self.sampling_offsets = nn.Linear(D, P)
        self.attention_weights = nn.Linear(D, P)
        self.output_proj = nn.Linear(D, 1)

    def sample(self, value, loc):
        loc = mx.clip(loc, 0, L - 1.001)
        lo = mx.floor(loc)
        frac = (loc - lo)[..., None]
        lo = mx.stop_gradient(lo).astype(mx.int32)
        b = mx.arange(value.shape[0])[:, None, None]
        return value[b, lo] * (1 - frac) + value[b, lo + 1] * frac

    def __call__(self, x):
        value = self.value_proj(x)
        pos = mx.arange(L)[None, :, None].astype(mx.float32)
        offsets = 4.0 * mx.tanh(self.sampling_offsets(x))
        loc = pos + offsets
        attn = mx.softmax(self.attention_weights(x), axis=-1)[..., None]
        out = (self.sample(value, loc) * attn).sum(axis=2)
        return self.output_proj(out)[..., 0]


def batch(n=16):
    x = mx.random.normal((n, L, D))
    shift = mx.concatenate([x[:, 3:, 0], mx.zeros((n, 3))], axis=1)
    return x, shift


mx.random.seed(3)
model = DeformAttn1D()
opt = optim.Lion(learning_rate=1e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
print(f"{'iter':>6} | {'mse':>8}")
for it in range(1, 1201):
    x, y = batch()
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 100 == 0:
        print(f"{it:>6} | {loss.item():8.4f}")
