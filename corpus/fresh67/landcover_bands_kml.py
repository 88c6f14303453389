"""Land-cover classification of synthetic multispectral pixels -> KML report.

Seven bands (blue..SWIR2) per pixel plus NDVI/NDWI, five classes (water, forest,
cropland, urban, bare soil) with per-scene illumination and haze. MLP with
BatchNorm and Dropout, RMSprop, a hand-written reduce-on-plateau on the val loss.
Every line printed is part of one KML document.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)
CLASSES = ["water", "forest", "cropland", "urban", "bare_soil"]
#                 B     G     R    RE    NIR  SWIR1 SWIR2
SIG = np.array([[.08, .07, .05, .04, .03, .015, .01],
                [.03, .06, .04, .15, .38, .18, .08],
                [.05, .09, .08, .20, .33, .26, .15],
                [.12, .13, .14, .16, .20, .24, .22],
                [.10, .13, .18, .22, .27, .34, .30]])


def scene(n):
    y = rng.choice(5, n, p=[.15, .25, .25, .15, .20])
    refl = SIG[y] * rng.normal(1.0, 0.18, (n, 1)) * rng.normal(1.0, 0.06, (n, 7))
    refl += rng.uniform(0, 0.04, (n, 1)) * np.linspace(1.0, 0.2, 7)   # haze
    mix = rng.uniform(0, 0.35, (n, 1))                                 # mixed pixels
    refl = (1 - mix) * refl + mix * SIG[rng.integers(0, 5, n)]
    refl += rng.normal(0, 0.01, refl.shape)
    ndvi = (refl[:, 4] - refl[:, 2]) / (refl[:, 4] + refl[:, 2] + 1e-6)
    ndwi = (refl[:, 1] - refl[:, 4]) / (refl[:, 1] + refl[:, 4] + 1e-6)
    x = np.concatenate([refl * 10, ndvi[:, None], ndwi[:, None]], 1)
    return x.astype(np.float32), y


xtr, ytr = scene(8000)
xva, yva = scene(2000)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)


class PixelNet(nn.Module):
    def __init__(self, din=9, h=64, k=5):
        super().__init__()
        self.l1 = nn.Linear(din, h)
        self.bn1 = nn.BatchNorm(h)
        self.l2 = nn.Linear(h, h)
        self.bn2 = nn.BatchNorm(h)
        self.drop = nn.Dropout(0.15)
        self.out = nn.Linear(h, k)

    def __call__(self, x):
        x = self.drop(nn.relu(self.bn1(self.l1(x))))
        x = self.drop(nn.relu(self.bn2(self.l2(x))))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(5)
model = PixelNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
vg = nn.value_and_grad(model, loss_fn)

print('<?xml version="1.0" encoding="UTF-8"?>')
print('<kml xmlns="http://www.opengis.net/kml/2.2"><Document>')
print(f'  <name>landcover-mlp train={len(xtr)} val={len(xva)}</name>')

model.train()
l0, g0 = vg(model, Xtr[:256], Ytr[:256])
flat = nn.utils.tree_flatten(g0)
zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
prior = np.bincount(ytr, minlength=5) / len(ytr)
prior_ce = float(-np.log(prior[yva]).mean())
print(f'  <!-- gradcheck leaves={len(flat)} zero={zero} loss0={float(l0):.4f} '
      f'class-prior CE={prior_ce:.4f} -->')


def evaluate():
    model.eval()
    logits = model(Xva)
    ce = float(nn.losses.cross_entropy(logits, Yva, reduction="mean"))
    pred = np.array(mx.argmax(logits, axis=1))
    model.train()
    rec = [float((pred[yva == c] == c).mean()) for c in range(5)]
    return ce, float((pred == yva).mean()), rec


best, bad, BS, t0 = 1e9, 0, 128, time.time()
for ep in range(1, 19):
    perm = rng.permutation(len(xtr))
    tot, nb = 0.0, 0
    for s in range(0, len(xtr) - BS + 1, BS):
        idx = mx.array(perm[s:s + BS])
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    vce, vacc, rec = evaluate()
    lr = float(opt.learning_rate)
    note = ""
    if vce < best - 1e-3:
        best, bad = vce, 0
    else:
        bad += 1
        if bad >= 2:
            opt.learning_rate = lr * 0.3
            bad, note = 0, f" lr_cut_to={lr * 0.3:.2e}"
    lon, lat = 8.0 + 0.01 * ep, 47.0 + 0.005 * ep
    print(f'  <Placemark><name>epoch {ep:02d}</name>')
    print(f'    <description>train_ce={tot / nb:.4f} val_ce={vce:.4f} val_acc={vacc:.4f} '
          f'lr={lr:.2e}{note} t={time.time() - t0:.1f}s</description>')
    print(f'    <Point><coordinates>{lon:.3f},{lat:.3f},0</coordinates></Point></Placemark>')

vce, vacc, rec = evaluate()
print('  <Folder><name>per-class recall</name>')
for c, r in zip(CLASSES, rec):
    print(f'    <Placemark><name>{c}</name><description>recall={r:.3f}</description></Placemark>')
print('  </Folder>')
print('</Document></kml>')
