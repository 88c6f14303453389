# oolong tea workshop: predict the roast grade (green / light / amber / dark) of a batch
# from 8 process readings. Stage A: frozen random encoder, head only. Stage B: everything,
# lr ramps from 0, early stopping restores the best epoch. Compiled steps, Lion.
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(181)
N_FEAT, N_CLASS = 8, 4

def batches_of_tea(n):
    x = mx.random.normal((n, N_FEAT))
    # withering h, leaf moisture, rolling passes, oxidation min, roast temp, roast h, leaf size, humidity
    score = (0.9 * x[:, 3] + 0.7 * x[:, 4] * (1 + 0.4 * x[:, 5]) - 0.5 * x[:, 1]
             + 0.3 * mx.tanh(2 * x[:, 2]) * x[:, 0] + 0.25 * mx.random.normal((n,)))
    y = (score > -0.8).astype(mx.int32) + (score > 0.1).astype(mx.int32) + (score > 1.0).astype(mx.int32)
    return x, y

xtr, ytr = batches_of_tea(2000)
xva, yva = batches_of_tea(500)

class RoastNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, N_CLASS)
    def __call__(self, x):
        return self.head(self.body(x))

def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def evaluate(model):
    logits = model(xva)
    acc = mx.mean(mx.argmax(logits, axis=1) == yva) * 100
    return ce(model, xva, yva).item(), acc.item()

def make_step(model, opt):
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, ce)
    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss
    return step

model = RoastNet()
mx.eval(model.parameters())
counts = [int((ytr == c).sum().item()) for c in range(N_CLASS)]
majority = 100 * max(counts) / sum(counts)
print(f"class counts {counts}   majority-grade baseline {majority:.1f}%")

# ---- stage A: encoder frozen on purpose ----
model.body.freeze()
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
step = make_step(model, opt)
body_before = [v for _, v in tree_flatten(model.body.parameters())]
print("stage | ep | train_ce | val_ce | val_acc% | note")
BS = 100
for ep in range(1, 7):
    perm = mx.random.permutation(xtr.shape[0]); run = 0.0
    for i in range(0, xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss = step(xtr[idx], ytr[idx]); mx.eval(loss, model.state, opt.state); run += loss.item()
    v, a = evaluate(model)
    print(f"  A   | {ep:2d} | {run / 20:8.4f} | {v:6.4f} | {a:7.2f}  |")
drift = sum(mx.abs(b - c).sum().item() for b, c in zip(body_before, [v for _, v in tree_flatten(model.body.parameters())]))
print(f"audit: frozen body L1 drift after stage A = {drift:.3e}")

# ---- stage B: unfreeze, lr from 0 ----
model.unfreeze()
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 40), optim.cosine_decay(3e-4, 600, 1e-5)], [40])
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
step = make_step(model, opt)
best, best_params, patience = float("inf"), None, 0
for ep in range(1, 31):
    perm = mx.random.permutation(xtr.shape[0]); run = 0.0
    for i in range(0, xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss = step(xtr[idx], ytr[idx]); mx.eval(loss, model.state, opt.state); run += loss.item()
    v, a = evaluate(model)
    note = ""
    if v < best - 1e-4:
        best, best_ep, patience = v, ep, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters()); note = "best"
    else:
        patience += 1
    print(f"  B   | {ep:2d} | {run / 20:8.4f} | {v:6.4f} | {a:7.2f}  | {note}")
    if patience >= 5:
        print(f"early stop at B/{ep}; restoring B/{best_ep}")
        break
model.update(best_params); mx.eval(model.parameters())
v, a = evaluate(model)
print(f"final val_ce {v:.4f}  val_acc {a:.2f}%  (majority baseline {majority:.1f}%)")
