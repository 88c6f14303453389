# Wheelwright's spoke grading: a float grader fitted on the old yard is packed to 4 bits
# and adapted to the new yard with mlx_lm LoRA adapters on the packed layers.
# Stage 2 folds in the apprentices' hand-graded spokes (about 15% mislabelled), so the
# training loss rises there; validation is on master-graded spokes only.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from mlx_lm.tuner.lora import LoRALinear

rng = np.random.default_rng(11)
mx.random.seed(11)
D, C = 10, 5
W_old = rng.normal(size=(D, C))
W_new = W_old + 0.9 * rng.normal(size=(D, C))

def yard(n, W, flip=0.0):
    x = rng.normal(size=(n, D)).astype(np.float32)
    z = x @ W + 0.6 * np.sin(2.0 * x[:, :C]) + 0.3 * rng.normal(size=(n, C))
    y = z.argmax(1)
    if flip > 0:
        m = rng.random(n) < flip
        y = np.where(m, rng.integers(0, C, n), y)
    return mx.array(x), mx.array(y.astype(np.int32))

class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 64)
        self.mid1 = nn.Linear(64, 64)
        self.mid2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, C)
    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid1(h))
        h = nn.gelu(self.mid2(h))
        return self.out(h)

def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def acc(model, x, y):
    return (model(x).argmax(1) == y).astype(mx.float32).mean().item()

t0 = time.time()
model = Grader()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 600, 1e-4))
vg = nn.value_and_grad(model, ce)
xo, yo = yard(12000, W_old)
for s in range(600):
    i = mx.array(rng.integers(0, 12000, 128))
    l, g = vg(model, xo[i], yo[i])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, l)
xv_old, yv_old = yard(2000, W_old)
xv, yv = yard(2000, W_new)
print(("fit", "old-yard acc", round(acc(model, xv_old, yv_old), 4), "new-yard acc", round(acc(model, xv, yv), 4)))

nn.quantize(model, group_size=32, bits=4, class_predicate=lambda p, m: p in ("mid1", "mid2", "out"))
model.freeze()
model.mid1 = LoRALinear.from_base(model.mid1, r=4, scale=2.0)
model.mid2 = LoRALinear.from_base(model.mid2, r=4, scale=2.0)
base_acc = acc(model, xv, yv)
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(("packed", "layers", [type(m).__name__ for m in (model.mid1.linear, model.mid2.linear, model.out)],
       "trainable", n_tr, "new-yard acc before adapters", round(base_acc, 4)))

xa, ya = yard(6000, W_new)                 # master-graded
xb, yb = yard(6000, W_new, flip=0.15)      # apprentice-graded
ACC_STEPS, MB = 4, 32
WARM = 40
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM), lambda s: mx.array(2e-3)], [WARM])
aopt = optim.Adam(learning_rate=sched)
avg = nn.value_and_grad(model, ce)
best = (1e9, None, 0)
patience, bad = 4, 0
step = 0
for stage, (xs, ys), limit in (("master", (xa, ya), 240), ("master+apprentice", (None, None), 600)):
    if stage == "master+apprentice":
        xs = mx.concatenate([xa, xb]); ys = mx.concatenate([ya, yb])
    n = xs.shape[0]
    run = []
    while step < limit:
        step += 1
        lr_now = sched(step - 1).item()
        acc_g = None
        tot = 0.0
        for _ in range(ACC_STEPS):
            i = mx.array(rng.integers(0, n, MB))
            l, g = avg(model, xs[i], ys[i])
            acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
            tot += l.item()
        acc_g = tree_map(lambda a: a / ACC_STEPS, acc_g)
        aopt.update(model, acc_g)
        mx.eval(model.trainable_parameters(), aopt.state)
        run.append(tot / ACC_STEPS)
        if step % 40 == 0:
            vce = ce(model, xv, yv).item()
            va = acc(model, xv, yv)
            print((stage, step, f"lr={lr_now:.1e}", f"train_ce={np.mean(run[-40:]):.4f}",
                   f"val_ce={vce:.4f}", f"val_acc={va:.4f}", f"packed_base_acc={base_acc:.4f}"))
            if vce < best[0] - 1e-4:
                best = (vce, {k: mx.array(v) for k, v in tree_flatten(model.trainable_parameters())}, step)
                bad = 0
            elif stage != "master":
                bad += 1
                if bad >= patience:
                    print(("early stop", step, "best step", best[2]))
                    break
    if bad >= patience:
        break

model.load_weights(list(best[1].items()), strict=False)
mx.eval(model.parameters())
print(("restored", "step", best[2], "val_ce", round(ce(model, xv, yv).item(), 4),
       "val_acc", round(acc(model, xv, yv), 4), "packed_base_acc", round(base_acc, 4),
       "majority", round(float(max(np.bincount(np.array(yv), minlength=C))) / 2000, 4)))
print(("done", round(time.time() - t0, 1), "s"))
