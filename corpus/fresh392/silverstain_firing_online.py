# Stained-glass studio: predict the colour shift (delta-E, standardised) of a
# painted glass piece after firing, from six kiln-card readings.
# Trained one piece at a time (batch size 1) with plain SGD and a small step.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7)

def kiln_cards(n):
    peak_c = rng.uniform(560, 680, n)          # peak firing temperature
    soak_min = rng.uniform(5, 40, n)           # soak at peak
    oxide = rng.uniform(0, 1, n)               # iron-oxide share of the paint
    layer_um = rng.uniform(10, 60, n)          # paint layer thickness
    gum = rng.uniform(0, 1, n)                 # gum arabic share
    shelf = rng.integers(0, 3, n).astype(np.float64)  # kiln shelf (0 low .. 2 high)
    x = np.stack([peak_c, soak_min, oxide, layer_um, gum, shelf], 1)
    heat = (peak_c - 620) / 30 + 0.03 * (soak_min - 20) + 0.4 * (shelf - 1)
    shift = (np.tanh(heat) * (0.6 + oxide) + 0.02 * layer_um * (1 - gum)
             - 0.8 * oxide * gum + rng.normal(0, 0.35, n))
    return x, shift

xtr, ytr = kiln_cards(16000)
xte, yte = kiln_cards(2000)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
to_mx = lambda a: mx.array(a.astype(np.float32))
Xtr, Ytr = to_mx((xtr - mu) / sd), to_mx((ytr - ym) / ys)
Xte, Yte = to_mx((xte - mu) / sd), to_mx((yte - ym) / ys)


class ShiftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 16)
        self.l2 = nn.Linear(16, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = ShiftNet()
# Small initial weights, the way the studio's old notebook started its nets.
model.update(tree_map(lambda p: p * 0.03, model.parameters()))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return ((m(x) - y) ** 2).mean()


opt = optim.SGD(learning_rate=0.005)
step = nn.value_and_grad(model, loss_fn)

def heldout():
    return ((model(Xte) - Yte) ** 2).mean().item()

base = float(((yte - ym) / ys).var())
print(f"# pieces train={Xtr.shape[0]} heldout={Xte.shape[0]} batch=1 sgd lr=0.005")
print(f"# mean-colour baseline heldout mse = {base:.4f}")
print("pieces,window_mse,window_median_se,heldout_mse,vs_baseline")
print(f"0,,,{heldout():.4f},{heldout() / base:.3f}")

order = rng.permutation(Xtr.shape[0])
window = []
t0 = time.time()
n_pieces = 16000
for i in range(n_pieces):
    j = int(order[i])
    loss, g = step(model, Xtr[j:j + 1], Ytr[j:j + 1])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if (i + 1) % 1000 == 0:
        w = np.array(window)
        h = heldout()
        print(f"{i + 1},{w.mean():.4f},{np.median(w):.4f},{h:.4f},{h / base:.3f}")
        window = []
print(f"# done in {time.time() - t0:.1f}s")
