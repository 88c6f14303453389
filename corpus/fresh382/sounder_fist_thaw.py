"""Telegraph operator identification from keying rhythm.

Stage 0 pre-trains a two-layer GRU on unlabelled keying logs (predict the next
mark/space duration). Then the classifier is thawed layer by layer, as in
ULMFiT: head only, then head + upper GRU, then everything, with a smaller
learning rate for the lower layer. Layers not yet thawed stay as they are.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(5)
mx.random.seed(5)
L, OPS = 24, 4
# each operator: dit length, dah/dit ratio, gap stretch, jitter
STYLE = [(1.00, 3.0, 1.00, 0.08), (0.92, 3.5, 1.15, 0.10), (1.08, 2.7, 0.95, 0.12), (0.97, 3.1, 1.30, 0.07)]


def keying(n, ops):
    out = np.zeros((n, L, 2), np.float32)
    for i, o in enumerate(ops):
        dit, ratio, gap, jit = STYLE[o]
        for t in range(L):
            is_dah = rng.random() < 0.45
            mark = dit * (ratio if is_dah else 1.0) * (1 + jit * rng.normal())
            space = dit * gap * (3.0 if rng.random() < 0.2 else 1.0) * (1 + jit * rng.normal())
            out[i, t] = (np.log(max(mark, 0.05)), np.log(max(space, 0.05)))
    return out


X_un = keying(1600, rng.integers(0, OPS, 1600))
y_lab = rng.integers(0, OPS, 400); X_lab = keying(400, y_lab)
y_val = rng.integers(0, OPS, 800); X_val = keying(800, y_val)
m, s = X_un.reshape(-1, 2).mean(0), X_un.reshape(-1, 2).std(0)
norm = lambda a: mx.array((a - m) / s)
X_un, X_lab, X_val = norm(X_un), norm(X_lab), norm(X_val)
y_lab, y_val = mx.array(y_lab), mx.array(y_val)


class Fist(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru1 = nn.GRU(2, 48)
        self.gru2 = nn.GRU(48, 48)
        self.next = nn.Linear(48, 2)
        self.head = nn.Linear(96, OPS)

    def encode(self, x):
        return self.gru2(self.gru1(x))

    def predict_next(self, x):
        return self.next(self.encode(x))

    def __call__(self, x):
        h = self.encode(x)
        return self.head(mx.concatenate([h[:, -1], h.mean(1)], -1))


def snap(mod):
    return {k: np.array(v) for k, v in tree_flatten(mod.parameters())}


def max_change(mod, ref):
    return max(float(np.abs(np.array(v) - ref[k]).max()) for k, v in tree_flatten(mod.parameters()))


model = Fist()

# ---- stage 0: next-duration pre-training (unlabelled) ----
model.head.freeze()
opt0 = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
lm_loss = lambda md, xb: nn.losses.mse_loss(md.predict_next(xb[:, :-1]), xb[:, 1:])
vg0 = nn.value_and_grad(model, lm_loss)
print("stage  epoch  trainable  train_loss  val_metric         secs")
print("-----  -----  ---------  ----------  -----------------  ----")
base = float(mx.mean(X_val[:, 1:] ** 2).item())
print(f"pre    0      -          -           next_mse {base:.3f}    -   (guess 0)")
for ep in range(1, 5):
    t0 = time.time(); perm = np.random.default_rng(ep).permutation(1600); tot = 0.0
    for i in range(0, 1600, 100):
        l, g = vg0(model, X_un[mx.array(perm[i:i + 100])])
        opt0.update(model, g); mx.eval(model.parameters(), opt0.state); tot += l.item()
    vm = float(lm_loss(model, X_val).item())
    ntr = len(tree_flatten(model.trainable_parameters()))
    print(f"pre    {ep:<5d}  {ntr:<9d}  {tot / 16:<10.4f}  next_mse {vm:.3f}    {time.time() - t0:.1f}")


def accuracy(md):
    return float(mx.mean(mx.argmax(md(X_val), -1) == y_val).item()) * 100


# ---- stages 1-3: gradual thawing on 400 labelled logs ----
model.freeze(); model.next.freeze()
ce = lambda md, xb, yb: nn.losses.cross_entropy(md(xb), yb, reduction="mean")
plan = [("head", 1e-2, None), ("head+gru2", 3e-3, None), ("all", 3e-3, 1e-3)]
print(f"clf    0      0          -           val_acc  {accuracy(model):5.1f}%    -   (chance 25.0%)")
ep_g = 0
for stage, (name, lr, low_lr) in enumerate(plan, 1):
    if name == "head":
        model.head.unfreeze()
    elif name == "head+gru2":
        model.gru2.unfreeze()
    else:
        model.gru1.unfreeze()
    ref1 = snap(model.gru1)
    opt_top = optim.Adam(learning_rate=lr)
    opt_low = optim.Adam(learning_rate=low_lr) if low_lr else None
    vg = nn.value_and_grad(model, ce)
    for ep in range(1, 6):
        ep_g += 1; t0 = time.time(); perm = np.random.default_rng(100 + ep_g).permutation(400); tot = 0.0
        for i in range(0, 400, 40):
            idx = mx.array(perm[i:i + 40])
            l, g = vg(model, X_lab[idx], y_lab[idx])
            if opt_low is not None:
                g_low = {"gru1": g.pop("gru1")}
                opt_low.update(model, g_low)
            opt_top.update(model, g)
            mx.eval(model.parameters(), opt_top.state, l)
            if opt_low is not None:
                mx.eval(opt_low.state)
            tot += l.item()
        ntr = len(tree_flatten(model.trainable_parameters()))
        print(f"clf{stage}   {ep_g:<5d}  {ntr:<9d}  {tot / 10:<10.4f}  val_acc  {accuracy(model):5.1f}%    {time.time() - t0:.1f}")
    print(f"#   stage {stage} ({name}): lower GRU max change {max_change(model.gru1, ref1):.1e}")

pred = np.array(mx.argmax(model(X_val), -1)); yv = np.array(y_val)
print("#   per-operator recall: " + "  ".join(f"op{o}={100 * np.mean(pred[yv == o] == o):.1f}%" for o in range(OPS)))
