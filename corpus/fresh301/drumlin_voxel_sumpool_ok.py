# Voxel scan classifier: which of two materials dominates a scanned part.
# Parts are 6x6x6 occupancy grids; each occupied voxel carries a 2-channel
# material reading. Network: centered sum pool -> pointwise linear -> pool
# -> masked mean over occupied voxels -> linear head.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

G = 6
C_IN = 2
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_parts(n):
    occ = np.zeros((n, G, G, G), dtype=np.float32)
    feats = np.zeros((n, G, G, G, C_IN), dtype=np.float32)
    labels = rng.integers(0, 2, size=n)
    for i in range(n):
        # random blob of voxels
        cx, cy, cz = rng.uniform(1.5, 4.5, size=3)
        r = rng.uniform(1.5, 2.4)
        xs, ys, zs = np.meshgrid(np.arange(G), np.arange(G), np.arange(G), indexing="ij")
        d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2 + (zs - cz) ** 2)
        m = (d < r + rng.normal(0, 0.4, size=d.shape)).astype(np.float32)
        occ[i] = m
        share = 0.62 if labels[i] == 1 else 0.38
        mat = (rng.random((G, G, G)) < share).astype(np.float32)
        feats[i, ..., 0] = m * (1.0 - mat)
        feats[i, ..., 1] = m * mat
    return mx.array(feats), mx.array(occ[..., None]), mx.array(labels)


def kernel_offsets(k):
    h = k // 2
    return [(a, b, c) for a in range(-h, h + 1) for b in range(-h, h + 1) for c in range(-h, h + 1)]


def conv3d(feats, mask, weight, kernel_size):
    # weight: (volume, Cin, Cout); output only on active (occupied) sites
    h = kernel_size // 2
    n, cin = feats.shape[0], feats.shape[-1]
    p = mx.pad(feats, [(0, 0), (h, h), (h, h), (h, h), (0, 0)])
    cols = mx.concatenate(
        [p[:, h + a:h + a + G, h + b:h + b + G, h + c:h + c + G, :]
         for (a, b, c) in kernel_offsets(kernel_size)],
        axis=-1,
    )
    w = weight.reshape(-1, weight.shape[-1])
    out = (cols.reshape(-1, w.shape[0]) @ w).reshape(n, G, G, G, -1)
    return out * mask


def pool3d(feats, mask, kernel_size=3):
    channels = feats.shape[-1]
    volume = len(kernel_offsets(kernel_size))
    weight = mx.broadcast_to(
        mx.eye(channels, dtype=feats.dtype),
        (volume, channels, channels),
    )
    return conv3d(feats, mask, weight, kernel_size)


class VoxelNet(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.lift = nn.Linear(C_IN, hidden)
        self.mix = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, feats, mask):
        x = pool3d(feats, mask) / 27.0
        x = nn.relu(self.lift(x)) * mask
        x = pool3d(x, mask) / 27.0
        x = nn.relu(self.mix(x)) * mask
        pooled = x.sum(axis=(1, 2, 3)) / mx.maximum(mask.sum(axis=(1, 2, 3)), 1.0)
        return self.head(pooled)


def loss_fn(model, feats, mask, y):
    return nn.losses.cross_entropy(model(feats, mask), y, reduction="mean")


def accuracy(model, feats, mask, y):
    return (mx.argmax(model(feats, mask), axis=1) == y).astype(mx.float32).mean().item()


Xtr, Mtr, Ytr = make_parts(512)
Xva, Mva, Yva = make_parts(192)
print(f"train parts {Xtr.shape[0]}  val parts {Xva.shape[0]}  grid {G}^3  channels {C_IN}")

model = VoxelNet()
opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
bs = 64
for epoch in range(1, 7):
    perm = np.random.default_rng(epoch).permutation(Xtr.shape[0])
    tot = 0.0
    nb = 0
    for s in range(0, len(perm), bs):
        idx = mx.array(perm[s:s + bs])
        loss, grads = step_fn(model, Xtr[idx], Mtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    va_loss = loss_fn(model, Xva, Mva, Yva).item()
    va_acc = accuracy(model, Xva, Mva, Yva)
    print(f"epoch {epoch}  train_loss {tot / nb:.4f}  val_loss {va_loss:.4f}  val_acc {va_acc:.3f}  ({time.time() - t0:.1f}s)")

print(f"final val_acc {accuracy(model, Xva, Mva, Yva):.3f}")
