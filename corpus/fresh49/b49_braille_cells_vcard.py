# Braille cell reader: classify noisy, jittered renderings of the 26 letter
# cells (2x3 dot grid, 14x10 pixel crops) with a tiny CNN.  Plain SGD with
# momentum and decoupled weight decay written by hand with tree_map.  Each epoch
# summary is emitted as a vCard record (the lab's dashboard ingests .vcf).
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(21)
IMG_H, IMG_W = 14, 10

# standard braille dot numbering: 1 2 3 down the left column, 4 5 6 down the right
LETTERS = {
    "a": "1", "b": "12", "c": "14", "d": "145", "e": "15", "f": "124", "g": "1245",
    "h": "125", "i": "24", "j": "245", "k": "13", "l": "123", "m": "134", "n": "1345",
    "o": "135", "p": "1234", "q": "12345", "r": "1235", "s": "234", "t": "2345",
    "u": "136", "v": "1236", "w": "2456", "x": "1346", "y": "13456", "z": "1356",
}
KEYS = sorted(LETTERS)
DOT_POS = {"1": (0, 0), "2": (1, 0), "3": (2, 0), "4": (0, 1), "5": (1, 1), "6": (2, 1)}


def render(letter):
    img = np.zeros((IMG_H, IMG_W), np.float32)
    yy, xx = np.mgrid[0:IMG_H, 0:IMG_W]
    oy, ox = rng.normal(0, 0.8, size=2)
    pitch = rng.uniform(3.2, 4.0)
    for d in LETTERS[letter]:
        r, c = DOT_POS[d]
        cy = 3.0 + r * pitch + oy + rng.normal(0, 0.3)
        cx = 3.0 + c * pitch + ox + rng.normal(0, 0.3)
        img += rng.uniform(0.6, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 1.6)
    # paper texture, smudges and a few spurious bumps
    img += rng.normal(0, 0.25, size=img.shape)
    for _ in range(rng.integers(0, 2)):
        sy, sx = rng.uniform(0, IMG_H), rng.uniform(0, IMG_W)
        img += 0.5 * np.exp(-((yy - sy) ** 2 + (xx - sx) ** 2) / 1.2)
    return img


def dataset(n):
    ys = rng.integers(0, 26, size=n)
    xs = np.stack([render(KEYS[y]) for y in ys])[..., None]
    return xs.astype(np.float32), ys.astype(np.int32)


class CellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 24, 3, padding=1)
        self.fc = nn.Linear(24 * 7 * 5, 64)
        self.out = nn.Linear(64, 26)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))[:, ::2, ::2, :]  # 7x5
        x = nn.relu(self.fc(x.reshape(x.shape[0], -1)))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def vcard(epoch, fields):
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"FN:cellnet epoch {epoch:02d}"]
    lines += [f"X-{k.upper()}:{v}" for k, v in fields.items()]
    lines.append("END:VCARD")
    print("\n".join(lines))


def main():
    mx.random.seed(3)
    xtr, ytr = dataset(4400)
    xva, yva = dataset(1300)
    xtr_m, ytr_m = mx.array(xtr), mx.array(ytr)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = CellNet()
    vg = nn.value_and_grad(model, loss_fn)
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    lr, mom, wd, bs = 0.05, 0.9, 5e-4, 64

    # first-step gradient check on one batch
    _, g0 = vg(model, xtr_m[:bs], ytr_m[:bs])
    zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    vcard(0, {"params": sum(v.size for _, v in tree_flatten(model.parameters())),
              "grad-leaves": len(tree_flatten(g0)), "zero-grad-leaves": len(zero_leaves) or "none"})

    t0 = time.time()
    for epoch in range(1, 8):
        if epoch == 5:
            lr *= 0.3  # step decay for the last epochs
        perm = mx.array(rng.permutation(len(ytr)))
        run, nb = 0.0, 0
        for i in range(0, len(ytr) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr_m[idx], ytr_m[idx])
            params = model.trainable_parameters()
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            new_params = tree_map(lambda p, v: p * (1 - lr * wd) - lr * v, params, velocity)
            model.update(new_params)
            mx.eval(model.parameters(), velocity, loss)
            run += loss.item()
            nb += 1
        logits = model(xva_m)
        val_loss = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
        val_acc = mx.mean(mx.argmax(logits, axis=1) == yva_m).item()
        vcard(epoch, {"train-loss": f"{run / nb:.4f}", "val-loss": f"{val_loss:.4f}",
                      "val-acc": f"{val_acc:.3f}", "lr": lr, "elapsed": f"{time.time() - t0:.1f}s"})


if __name__ == "__main__":
    main()
