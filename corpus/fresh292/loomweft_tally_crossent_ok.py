# Loom weft tally: classify woven swatches by their dominant weft colour.
# The net is fully convolutional (1x1 conv head + keepdims global pooling)
# and keeps the NCHW output layout of the reference Keras model, so logits
# come out as (batch, colours, 1, 1) and the loss reduces over axis=1 with
# the backend's categorical crossentropy.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

EPSILON = 1e-7


def convert_to_tensor(x):
    return x if isinstance(x, mx.array) else mx.array(x)


def log_softmax(x, axis=-1):
    x = convert_to_tensor(x)
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target = convert_to_tensor(target)
    output = convert_to_tensor(output)

    if target.shape != output.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            "Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )
    if len(target.shape) < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. "
            "Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )

    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        output = output / mx.sum(output, axis=axis, keepdims=True)
        output = mx.clip(output, EPSILON, 1 - EPSILON)
        log_prob = mx.log(output)

    return -mx.sum(target * log_prob, axis=axis)


N_COLOURS = 6
SIDE = 12


def make_swatches(rng, n, palette):
    colour = rng.integers(0, N_COLOURS, size=n)
    # warp threads: vertical stripes of a random second colour
    warp = rng.integers(0, N_COLOURS, size=n)
    img = np.empty((n, SIDE, SIDE, 3), dtype=np.float32)
    img[:] = palette[colour][:, None, None, :]
    cols = np.arange(SIDE) % 3 == 0
    img[:, :, cols, :] = palette[warp][:, None, None, :]
    img += rng.normal(scale=0.35, size=img.shape).astype(np.float32)
    onehot = np.eye(N_COLOURS, dtype=np.float32)[colour][:, :, None, None]
    return img, colour, onehot


class SwatchNet(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        self.c1 = nn.Conv2d(3, width, kernel_size=3, padding=1)
        self.c2 = nn.Conv2d(width, width, kernel_size=3, padding=1, stride=2)
        self.head = nn.Conv2d(width, N_COLOURS, kernel_size=1)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = self.head(h)  # (batch, 6, 6, colours)
        h = mx.mean(h, axis=(1, 2), keepdims=True)  # (batch, 1, 1, colours)
        return mx.transpose(h, (0, 3, 1, 2))  # NCHW: (batch, colours, 1, 1)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    palette = rng.uniform(-1, 1, size=(N_COLOURS, 3)).astype(np.float32)
    xtr, ctr, ytr = make_swatches(rng, 3000, palette)
    xva, cva, yva = make_swatches(rng, 600, palette)
    xtr, ytr = mx.array(xtr), mx.array(ytr)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = SwatchNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, xb, yb):
        logits = m(xb)
        return categorical_crossentropy(yb, logits, from_logits=True, axis=1).mean()

    step_fn = nn.value_and_grad(model, loss_fn)
    chance = np.bincount(cva, minlength=N_COLOURS).max() / cva.size
    print(f"swatches train={xtr.shape[0]} val={xva.shape[0]} colours={N_COLOURS} "
          f"majority baseline acc={chance:.3f}")

    bs = 100
    n = xtr.shape[0]
    t0 = time.time()
    step = 0
    for epoch in range(1, 7):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
            step += 1
            if step % 30 == 0:
                print(f"  step {step:4d}  loss {loss.item():.4f}")
        val_logits = model(xva_m)
        val_loss = categorical_crossentropy(yva_m, val_logits, from_logits=True, axis=1).mean()
        pred = np.array(mx.argmax(val_logits[:, :, 0, 0], axis=1))
        acc = float((pred == cva).mean())
        print(f"epoch {epoch}  train_ce {tot / cnt:.4f}  val_ce {val_loss.item():.4f}  "
              f"val_acc {acc:.3f}  ({time.time() - t0:.1f}s)")
    print(f"final val_acc {acc:.3f} (majority baseline {chance:.3f})")


if __name__ == "__main__":
    main()
