"""Tiny image-patch classifier with a Gemma-style GEGLU block, trained in float16
to halve memory. Synthetic 16x16 grayscale 'images' (raw 0..255 intensities),
4 classes = how bright the blob is (it sits anywhere)."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PATCH = 4
N_PATCH = (16 // PATCH) ** 2
D = 64
FF = 128


def gelu_tanh(x):
    # tanh-approximate GELU, as used by the Gemma MLP (evaluated in float32)
    return nn.gelu_approx(x.astype(mx.float32)).astype(x.dtype)


class GeGLU(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def __call__(self, x):
        return self.down_proj(gelu_tanh(self.gate_proj(x)) * self.up_proj(x))


class PatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(PATCH * PATCH, D)
        self.pos = mx.zeros((N_PATCH, D))
        self.mlp = GeGLU(D, FF)
        self.head = nn.Linear(D, 4)

    def __call__(self, patches):
        h = self.patch_embed(patches) + self.pos
        h = h + self.mlp(h)
        return self.head(h.mean(axis=1))


def make_images(n, seed):
    mx.random.seed(seed)
    y = mx.random.randint(0, 4, (n,))
    yy = mx.arange(16).reshape(16, 1)
    xx = mx.arange(16).reshape(1, 16)
    cy = mx.random.randint(3, 13, (n,))
    cx = mx.random.randint(3, 13, (n,))
    amp = 40.0 + 50.0 * y.astype(mx.float32)
    d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    img = 50 + amp[:, None, None] * mx.exp(-d2 / 8.0) + 25 * mx.random.normal((n, 16, 16))
    img = mx.clip(img, 0, 255)
    p = img.reshape(n, 4, PATCH, 4, PATCH).transpose(0, 1, 3, 2, 4)
    return p.reshape(n, N_PATCH, PATCH * PATCH), y


def main():
    xtr, ytr = make_images(1200, 0)
    xte, yte = make_images(400, 1)
    xtr, xte = xtr.astype(mx.float16), xte.astype(mx.float16)

    mx.random.seed(3)
    model = PatchNet()
    model.set_dtype(mx.float16)
    opt = optim.Adam(learning_rate=1e-3, eps=1e-4)

    def loss_fn(m, x, y):
        logits = m(x).astype(mx.float32)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    bs = 50
    t0 = time.time()
    for epoch in range(10):
        perm = mx.random.permutation(xtr.shape[0])
        tot, n = 0.0, 0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, gnorm)
            tot += loss.item()
            n += 1
        acc = (mx.argmax(model(xte), axis=1) == yte).mean().item()
        print(json.dumps({"epoch": epoch, "train_loss": round(tot / n, 4),
                          "last_grad_norm": round(gnorm.item(), 3),
                          "test_acc": round(acc, 3),
                          "elapsed_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
