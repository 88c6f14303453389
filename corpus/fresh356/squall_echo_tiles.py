# Masked patch pretraining on synthetic weather-radar reflectivity tiles.
# Mask ratio follows a staged schedule (0.25 -> 0.50 -> 0.75); each stage
# makes the reconstruction task harder, so the loss steps up at each switch.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
H = W = 16
P = 4
NP = (H // P) * (W // P)
PD = P * P


def make_tiles(n):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.zeros((n, H, W), np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0, H), rng.uniform(0, W)
            sy, sx = rng.uniform(1.5, 4.0), rng.uniform(1.5, 4.0)
            out[i] += rng.uniform(0.5, 1.5) * np.exp(-((yy - cy) ** 2 / (2 * sy**2) + (xx - cx) ** 2 / (2 * sx**2)))
    out += 0.03 * rng.standard_normal(out.shape).astype(np.float32)
    return out


def patchify(x):
    b = x.shape[0]
    x = x.reshape(b, H // P, P, W // P, P).transpose(0, 1, 3, 2, 4)
    return x.reshape(b, NP, PD)


class TinyMAE(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.embed = nn.Linear(PD, d)
        self.pos = mx.random.normal((1, NP, d)) * 0.02
        self.enc = nn.TransformerEncoder(2, d, 4, mlp_dims=96)
        self.mask_token = mx.zeros((1, 1, d))
        self.dec_pos = mx.random.normal((1, NP, d)) * 0.02
        self.dec = nn.TransformerEncoder(1, d, 4, mlp_dims=96)
        self.head = nn.Linear(d, PD)

    def __call__(self, patches, keep_idx, restore_idx):
        b = patches.shape[0]
        d = self.pos.shape[-1]
        tok = self.embed(patches) + self.pos
        vis = mx.take_along_axis(tok, keep_idx[..., None], axis=1)
        z = self.enc(vis, None)
        n_mask = NP - z.shape[1]
        full = mx.concatenate([z, mx.broadcast_to(self.mask_token, (b, n_mask, d))], axis=1)
        full = mx.take_along_axis(full, restore_idx[..., None], axis=1) + self.dec_pos
        return self.head(self.dec(full, None))


def sample_mask(b, ratio):
    n_keep = int(round(NP * (1 - ratio)))
    noise = mx.random.uniform(shape=(b, NP))
    shuffle = mx.argsort(noise, axis=1)
    restore = mx.argsort(shuffle, axis=1)
    keep = shuffle[:, :n_keep]
    m = mx.concatenate([mx.zeros((b, n_keep)), mx.ones((b, NP - n_keep))], axis=1)
    m = mx.take_along_axis(m, restore, axis=1)
    return keep, restore, m


def loss_fn(model, patches, keep, restore, m):
    pred = model(patches, keep, restore)
    per = ((pred - patches) ** 2).mean(axis=-1)
    return (per * m).sum() / m.sum()


mx.random.seed(3)
train = patchify(mx.array(make_tiles(1024)))
val = patchify(mx.array(make_tiles(256)))
model = TinyMAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

# baseline: predict every masked patch as the mean training patch
mean_patch = train.mean(axis=(0, 1))
stages = [(0.25, 150), (0.50, 150), (0.75, 200)]
bs = 64
t0 = time.time()
step = 0
for ratio, n_steps in stages:
    print(f"== stage mask_ratio={ratio:.2f} steps={n_steps}")
    mx.random.seed(100 + int(ratio * 100))
    vkeep, vrest, vm = sample_mask(val.shape[0], ratio)
    base = ((((mean_patch - val) ** 2).mean(axis=-1) * vm).sum() / vm.sum()).item()
    for i in range(n_steps):
        idx = mx.array(rng.integers(0, train.shape[0], bs))
        xb = train[idx]
        keep, rest, m = sample_mask(bs, ratio)
        loss, grads = step_fn(model, xb, keep, rest, m)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if i % 50 == 0 or i == n_steps - 1:
            vl = loss_fn(model, val, vkeep, vrest, vm).item()
            print(f"step {step:4d} ratio {ratio:.2f} train_masked_mse {loss.item():.4f} val_masked_mse {vl:.4f} mean_patch_baseline {base:.4f}")
print(f"done in {time.time() - t0:.1f}s")
