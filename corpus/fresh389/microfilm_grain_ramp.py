import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
S, SIG = 16, 0.25

def frames(n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    img = np.zeros((n, S, S), np.float32)
    for k in range(3):
        cx, cy = rng.uniform(3, 13, (2, n, 1, 1))
        w = rng.uniform(1.0, 3.0, (n, 1, 1))
        img += rng.uniform(0.3, 1.0, (n, 1, 1)) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * w ** 2))
    img = np.clip(img, 0, 1)
    return img[..., None]

class GrainNet(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.c1 = nn.Conv2d(1, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.c3 = nn.Conv2d(c, c, 3, padding=1)
        self.c4 = nn.Conv2d(c, 1, 3, padding=1)
    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        h = h + nn.silu(self.c3(h))
        return x - self.c4(h)

def loss_fn(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean, reduction="mean")

psnr = lambda m: 10 * np.log10(1.0 / max(m, 1e-12))
clean_tr = frames(6000)
clean_te = frames(300)
noisy_te = clean_te + rng.normal(0, SIG, clean_te.shape).astype(np.float32)
ct, nt = mx.array(clean_te), mx.array(noisy_te)
in_mse = float(np.mean((noisy_te - clean_te) ** 2))

model = GrainNet()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
lg = nn.value_and_grad(model, loss_fn)
pbytes = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
print(f"microfilm frames {S}x{S}, grain sigma {SIG}; train set {clean_tr.nbytes/2**20:.1f} MB in RAM, model {pbytes/1024:.1f} KB, Adam moments {2*pbytes/1024:.1f} KB")
print(f"doing nothing (noisy scan as output): mse {in_mse:.4f} = {psnr(in_mse):.2f} dB PSNR")
print(f"{'phase':>5} {'step':>5} {'batch':>5} {'lr':>8} {'mse':>8} {'test PSNR':>10} {'gain':>8} {'rate':>14} {'step time':>10} {'pixels':>10}")
print(f"{'':>5} {'':>5} {'img':>5} {'':>8} {'':>8} {'dB':>10} {'dB':>8} {'img/s':>14} {'ms':>10} {'MB/s':>10}")
step = 0
for phase, (bs, lr, n_steps) in enumerate([(16, 5e-4, 90), (32, 1e-3, 60), (64, 2e-3, 45)], start=1):
    opt.learning_rate = lr
    t0 = time.perf_counter(); imgs = 0; win = []
    for i in range(1, n_steps + 1):
        idx = rng.integers(0, len(clean_tr), bs)
        c = clean_tr[idx]
        noisy = mx.array(c + rng.normal(0, SIG, c.shape).astype(np.float32))
        loss, g = lg(model, noisy, mx.array(c))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1; imgs += bs; win.append(loss.item())
        if i % 15 == 0:
            el = time.perf_counter() - t0
            te = loss_fn(model, nt, ct).item()
            print(f"{phase:>5} {step:>5} {bs:>5} {lr:>8.1e} {np.mean(win):>8.4f} {psnr(te):>10.2f} {psnr(te)-psnr(in_mse):>+8.2f} "
                  f"{imgs/el:>14.0f} {1e3*el/i:>10.1f} {imgs*S*S*4/el/2**20:>10.2f}")
            win = []
te = loss_fn(model, nt, ct).item()
print(f"final test PSNR {psnr(te):.2f} dB vs noisy {psnr(in_mse):.2f} dB (+{psnr(te)-psnr(in_mse):.2f} dB) after {step} steps")
