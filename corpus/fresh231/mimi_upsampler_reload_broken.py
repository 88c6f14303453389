# Fine-tune a small "codec decoder" front-end on top of a pretrained, frozen
# depthwise transposed-conv upsampler (mimi-style). The upsampler is loaded
# from a checkpoint, then only the projection head is trained.
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class ConvTranspose1d(nn.Module):
    def __init__(self, in_channels, out_channels, ksize, stride=1, padding=0, groups=1, bias=True):
        super().__init__()
        scale = 1 / (in_channels * ksize)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(out_channels // groups, ksize, in_channels))
        self.bias = None
        if bias:
            self.bias = mx.zeros(out_channels)
        self._padding = padding
        self._groups = groups
        self._stride = stride
        self._ksize = ksize
        self._in_channels = in_channels
        self._out_channels = out_channels
        self.update_in_place()

    def update_in_place(self):
        groups = self._groups
        if groups == self._in_channels and groups == self._out_channels:
            eye = mx.eye(self._out_channels).astype(self.weight.dtype).reshape((self._out_channels, 1, self._out_channels))
            eye = mx.repeat(eye, repeats=self._ksize, axis=1)
            self._expanded_weight = mx.repeat(self.weight, repeats=groups, axis=0) * eye
            self._expanded_groups = 1
        elif groups > 1:
            raise ValueError("groups are not supported in ConvTranspose1d")
        else:
            self._expanded_weight = self.weight
            self._expanded_groups = groups

    def update(self, parameters: dict) -> nn.Module:
        super().update(parameters)
        self.update_in_place()
        return self

    def __call__(self, xs):
        y = mx.conv_transpose1d(xs, self._expanded_weight,
                                stride=self._stride, padding=self._padding, groups=self._expanded_groups)
        if self.bias is not None:
            y = y + self.bias
        return y


class Decoder(nn.Module):
    def __init__(self, feat, ch):
        super().__init__()
        self.proj = nn.Linear(feat, ch)
        self.upsample = ConvTranspose1d(ch, ch, ksize=4, stride=2, padding=1, groups=ch, bias=False)

    def __call__(self, x):  # x: (B, T, feat) -> (B, 2T, ch)
        return self.upsample(self.proj(x))


def load_decoder(path, feat, ch):
    m = Decoder(feat, ch)
    m.load_weights(path, strict=False)

    def _filter_fn(module, name, _):
        return True

    m.filter_and_map(_filter_fn)
    return m


FEAT, CH, T, B = 6, 4, 64, 64
mx.random.seed(3)

# "pretrained" upsampler: a linear-interpolation kernel per channel, stored in a checkpoint
teacher = Decoder(FEAT, CH)
kern = mx.array([0.25, 0.75, 0.75, 0.25])
teacher.upsample.weight = kern[None, :, None] * mx.array([1.0, -1.5, 2.0, 0.5])[None, None, :]
teacher.upsample.update_in_place()
mx.eval(teacher.parameters())

ckdir = tempfile.mkdtemp()
ckpt = os.path.join(ckdir, "upsampler.safetensors")
mx.save_safetensors(ckpt, {"upsample.weight": teacher.upsample.weight})


def batch(key):
    x = mx.random.normal((B, T, FEAT), key=key)
    return x, teacher(x)


model = load_decoder(ckpt, FEAT, CH)
model.upsample.freeze()
opt = optim.Adam(learning_rate=3e-2)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)
print(f"checkpoint: {os.path.basename(ckpt)}  trainable={sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")
t0 = time.time()
STEPS = 1500
keys = mx.random.split(mx.random.key(11), STEPS)
xv, yv = batch(mx.random.key(999))
for it in range(STEPS):
    x, y = batch(keys[it])
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 150 == 0 or it == STEPS - 1:
        val = loss_fn(model, xv, yv).item()
        print(f"[{it:3d}] train_mse {loss.item():.3e} | val_mse {val:.3e} | {time.time()-t0:.1f}s")
print(f"final val_mse {loss_fn(model, xv, yv).item():.3e}")
probe = mx.random.normal((4, T, CH), key=mx.random.key(5))
gap = mx.abs(model.upsample(probe) - teacher.upsample(probe)).max().item()
print(f"audit: upsampler max|out - ckpt out| = {gap:.3e}  |w| = {mx.linalg.norm(model.upsample.weight).item():.4f}")
