# Pottery studio: classify a thrown cylinder as centred / off-centre / collapsing from
# 16-bin spindle-vibration spectra + clay water content + wheel rpm. 3-fold CV, each fold
# a fresh model whose spectral front-end (fixed cosine filterbank) is frozen on purpose.
# Compiled SGD-nesterov step; early stopping on val NLL with restore of the best weights.
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(3)
N = 2400
lab = rs.choice(3, N, p=[0.5, 0.3, 0.2])
rpm = rs.uniform(80, 240, N)
water = rs.normal(22, 2.5, N) + 2.0 * (lab == 2)
f = np.arange(16)
spec = rs.normal(0, 0.6, (N, 16))
rev = rpm / 60.0                                        # once-per-rev peak bin
spec += 1.6 * (lab == 1)[:, None] * np.exp(-0.5 * ((f[None] - rev[:, None] * 2.5) / 1.0) ** 2)
spec += 1.1 * (lab == 2)[:, None] * np.exp(-0.5 * ((f[None] - 12.0) / 2.0) ** 2)
spec += 0.4 * (lab == 2)[:, None] * np.sin(f[None] * 0.9)
X = np.concatenate([spec, ((water - 22) / 2.5)[:, None], ((rpm - 160) / 45)[:, None]], 1).astype(np.float32)
Y = lab.astype(np.int32)

class Wheel(nn.Module):
    def __init__(self):
        super().__init__()
        k = np.arange(16)
        bank = np.stack([np.cos(np.pi * (k + 0.5) * j / 16) for j in range(10)], 1).astype(np.float32)
        self.bank = nn.Linear(16, 10, bias=False)
        self.bank.weight = mx.array(bank.T)
        self.bank.freeze()                               # fixed DCT filterbank, not trained
        self.h = nn.Linear(12, 32)
        self.o = nn.Linear(32, 3)
    def __call__(self, x):
        z = mx.concatenate([self.bank(x[:, :16]), x[:, 16:]], axis=1)
        return self.o(nn.gelu(self.h(z)))

folds = np.array_split(rs.permutation(N), 3)
print(f"{'fold':>4} | {'ep':>3} | {'train_xent':>10} | {'val_nll':>8} | {'val_acc%':>8} | {'majority%':>9} | note")
print("-" * 68)
accs = []
for k in range(3):
    va = folds[k]; tr = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, Ytr, Xva, Yva = mx.array(X[tr]), mx.array(Y[tr]), mx.array(X[va]), mx.array(Y[va])
    maj = 100.0 * np.mean(Y[va] == np.bincount(Y[tr]).argmax())
    model = Wheel()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    lf = lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean")
    if k == 0:
        g0 = nn.value_and_grad(model, lf)(model, Xtr[:128], Ytr[:128])[1]
        norms = {n: float(mx.linalg.norm(v)) for n, v in tree_flatten(g0)}
        assert set(norms) == {"h.weight", "h.bias", "o.weight", "o.bias"} and min(norms.values()) > 0, norms
        print(f"     grad audit: {', '.join(f'{n}={v:.3f}' for n, v in norms.items())} (bank frozen)")
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = nn.value_and_grad(model, lf)(model, xb, yb)
        opt.update(model, g)
        return loss

    best, best_ep, best_w, bad = 1e9, 0, None, 0
    for ep in range(1, 61):
        order = mx.array(rs.permutation(len(tr)))
        tl = []
        for s in range(0, len(tr), 100):
            b = order[s:s + 100]
            l = step(Xtr[b], Ytr[b]); mx.eval(state, l); tl.append(l.item())
        logits = model(Xva)
        vn = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
        acc = 100.0 * mx.mean(mx.argmax(logits, 1) == Yva).item()
        note = ""
        if vn < best - 1e-4:
            best, best_ep, bad = vn, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters()); mx.eval(best_w)
            note = "*"
        else:
            bad += 1
        if ep % 5 == 0 or note == "*" and ep <= 3 or bad == 8:
            print(f"{k+1:>4} | {ep:>3} | {np.mean(tl):>10.4f} | {vn:>8.4f} | {acc:>8.1f} | {maj:>9.1f} | {note}")
        if bad == 8:
            print(f"     stop fold {k+1} at ep {ep}; restoring ep {best_ep} (val_nll {best:.4f})")
            break
    model.update(best_w)
    logits = model(Xva)
    acc = 100.0 * mx.mean(mx.argmax(logits, 1) == Yva).item()
    accs.append(acc)
    print(f"{k+1:>4} | {'best':>3} | {'':>10} | {nn.losses.cross_entropy(logits, Yva, reduction='mean').item():>8.4f} | {acc:>8.1f} | {maj:>9.1f} | restored")
print("-" * 68)
print(f"CV accuracy {np.mean(accs):.1f}% +/- {np.std(accs):.1f} over 3 folds")
