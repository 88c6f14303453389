# Tiny quantized mixture-of-experts "wine style" classifier.
# Experts are stored 4-bit (QuantizedSwitchLinear, as in mlx_lm), router + head train.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class QuantizedSwitchLinear(nn.Module):
    def __init__(self, input_dims, output_dims, num_experts, bias=True,
                 group_size=32, bits=4):
        super().__init__()
        scale = math.sqrt(1 / input_dims)
        self.weight, self.scales, self.biases = mx.quantize(
            mx.random.uniform(low=-scale, high=scale,
                              shape=(num_experts, output_dims, input_dims)),
            group_size=group_size, bits=bits)
        if bias:
            self.bias = mx.zeros((num_experts, output_dims))
        self.group_size = group_size
        self.bits = bits

        # Freeze this model's parameters
        self.freeze()

    def unfreeze(self, *args, **kwargs):
        """Wrap unfreeze so that we unfreeze any layers we might contain but
        our parameters will remain frozen."""
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)

    def __call__(self, x, indices):
        x = mx.gather_qmm(x, self["weight"], self["scales"], self["biases"],
                          rhs_indices=indices, transpose=True,
                          group_size=self.group_size, bits=self.bits)
        if "bias" in self:
            x = x + mx.expand_dims(self["bias"][indices], -2)
        return x


class SwitchMLP(nn.Module):
    def __init__(self, dims, hidden, num_experts, k=2):
        super().__init__()
        self.k = k
        self.gate = nn.Linear(dims, num_experts, bias=False)
        self.up = QuantizedSwitchLinear(dims, hidden, num_experts)
        self.down = QuantizedSwitchLinear(hidden, dims, num_experts)

    def __call__(self, x):
        logits = self.gate(x)
        inds = mx.stop_gradient(mx.argpartition(-logits, kth=self.k - 1, axis=-1)[..., : self.k])
        scores = mx.softmax(mx.take_along_axis(logits, inds, axis=-1), axis=-1)
        h = mx.expand_dims(x, (-2, -3))
        h = nn.silu(self.up(h, inds))
        h = self.down(h, inds).squeeze(-2)
        return (h * scores[..., None]).sum(axis=-2)


class WineNet(nn.Module):
    def __init__(self, n_in, dims, n_cls, n_exp=4):
        super().__init__()
        self.inp = nn.Linear(n_in, dims)
        self.moe = SwitchMLP(dims, 2 * dims, n_exp)
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, n_cls)

    def __call__(self, x):
        h = self.inp(x)
        h = h + self.moe(h)
        return self.head(self.norm(h))


mx.random.seed(3)
N_IN, N_CLS = 12, 5
centers = mx.random.normal((N_CLS, N_IN)) * 0.45
y_all = mx.random.randint(0, N_CLS, (2048,))
x_all = centers[y_all] + mx.random.normal((2048, N_IN))
xtr, ytr, xva, yva = x_all[:1792], y_all[:1792], x_all[1792:], y_all[1792:]

model = WineNet(N_IN, 64, N_CLS)
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for epoch in range(8):
    perm = mx.random.permutation(xtr.shape[0])
    tot = 0.0
    nb = 0
    for i in range(0, xtr.shape[0], 64):
        idx = perm[i:i + 64]
        loss, grads = step(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = (mx.argmax(model(xva), axis=-1) == yva).mean().item()
    print(f"epoch {epoch} | train_ce {tot / nb:.4f} | val_acc {acc:.3f} | {time.time() - t0:.1f}s")
