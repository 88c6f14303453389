# Fine-tune a Conformer conv block whose weights come from a PyTorch checkpoint.
# The checkpoint is simulated: numpy arrays in PyTorch Conv1d layout (out, in, kernel).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

C, K, T, B = 16, 5, 40, 8


class ConformerConvModule(nn.Module):
    def __init__(self, dim, kernel):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up_conv = nn.Conv1d(dim, 2 * dim, kernel_size=1)
        self.depth_conv = nn.Conv1d(dim, dim, kernel_size=kernel, padding=kernel // 2, groups=dim)
        self.down_conv = nn.Conv1d(dim, dim, kernel_size=1)

    def __call__(self, x):
        h = self.up_conv(self.norm(x))
        a, g = mx.split(h, 2, axis=-1)
        h = a * mx.sigmoid(g)
        h = nn.silu(self.depth_conv(h))
        return x + self.down_conv(h)


def torch_checkpoint(rng):
    # shapes exactly as torch.nn.Conv1d stores them: (out_channels, in_channels/groups, kernel)
    s = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float32)
    return {
        "conv.norm.weight": np.ones(C, np.float32),
        "conv.norm.bias": np.zeros(C, np.float32),
        "conv.up_conv.weight": s(2 * C, C, 1),
        "conv.up_conv.bias": s(2 * C),
        "conv.depth_conv.weight": s(C, 1, K),
        "conv.depth_conv.bias": s(C),
        "conv.down_conv.weight": s(C, C, 1),
        "conv.down_conv.bias": s(C),
    }


def sanitize(weights):
    out = {}
    for k, v in weights.items():
        k = k.replace("conv.", "", 1)
        if k.endswith("conv.weight"):
            # When kernel_size == 1 the shapes are symmetric and no-op either way
            if "depth_conv" not in k or v.shape[-1] > v.shape[-2]:
                v = v.transpose(0, 2, 1)
        out[k] = mx.array(v)
    return out


rng = np.random.default_rng(3)
model = ConformerConvModule(C, K)
model.load_weights(list(sanitize(torch_checkpoint(rng)).items()))
mx.eval(model.parameters())

# synthetic "speech features" and a smoothed target the block should learn to produce
X = mx.array(rng.standard_normal((64, T, C)).astype(np.float32))
kern = np.array([0.25, 0.5, 0.25], np.float32)
Yn = np.apply_along_axis(lambda r: np.convolve(r, kern, mode="same"), 1, np.array(X))
Y = mx.array(np.tanh(Yn[..., ::-1].copy()))

opt = optim.AdamW(learning_rate=3e-3)
loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
step = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for it in range(1, 301):
    idx = mx.array(rng.integers(0, 64, B))
    loss, grads = step(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        full = loss_fn(model, X, Y)
        print(f"it {it:4d}  batch_mse {loss.item():.4f}  full_mse {full.item():.4f}")
print(f"done in {time.time() - t0:.1f}s")
