"""Hat workshop: will a wool/fur felt body hold its block shape after steaming?
Outcome: 0 holds / 1 slumps / 2 cracks, from 7 readings on the blocking sheet.
Two-stage curriculum (clear-cut bodies first, then everything), compiled AdamW step,
early stopping on validation error with the best weights restored at the end."""
import logging, time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s hatter: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hatter")
mx.random.seed(11)

def felt_bodies(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal(shape=(n, 7), key=k1)  # fur %, felt weight, steam s, block depth,
                                                # shellac coats, humidity, drying h (standardised)
    hold  = 0.9 * x[:, 0] + 0.7 * x[:, 4] - 0.6 * x[:, 5] + 0.4 * x[:, 6]
    slump = 0.8 * x[:, 2] + 0.7 * x[:, 5] - 0.5 * x[:, 1] + 0.5 * x[:, 3] * x[:, 2]
    crack = 1.0 * x[:, 3] - 0.6 * x[:, 2] + 0.6 * x[:, 4] * x[:, 4] - 0.8
    logits = 2.2 * mx.stack([hold, slump, crack], axis=1)
    g = -mx.log(-mx.log(mx.random.uniform(shape=logits.shape, key=k2) + 1e-9) + 1e-9)
    y = mx.argmax(logits + g, axis=1)
    top2 = mx.sort(logits, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]            # how clear-cut the body is
    return x, y, margin

xtr, ytr, mtr = felt_bodies(24000, mx.random.key(3))
xva, yva, _ = felt_bodies(3000, mx.random.key(4))
easy = mx.array([i for i, m in enumerate(mtr.tolist()) if m > 2.5])
log.info("bodies train=%d val=%d clear-cut=%d (%.1f%%)", xtr.shape[0], xva.shape[0],
         easy.size, 100.0 * easy.size / xtr.shape[0])

class BlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)
    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))

model = BlockNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)

def loss_fn(xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
    opt.update(model, grads)
    return loss

# one uncompiled look at the gradients: every tensor must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(xtr[:256], ytr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad audit: %d tensors, dead=%s", len(tree_flatten(g0)), dead or "none")

def val_error():
    pred = mx.argmax(model(xva), axis=1)
    return 100.0 * float((pred != yva).mean())

STAGES = [("clear-cut", easy, 25), ("all bodies", mx.arange(xtr.shape[0]), 60)]
BS, PATIENCE = 128, 6
best = (float("inf"), None, None)
log.info("untrained val_err %.2f%%", val_error())
t0 = time.time()
for stage_name, pool, max_epochs in STAGES:
    bad = 0
    best_stage = float("inf")
    for ep in range(1, max_epochs + 1):
        perm = pool[mx.random.permutation(pool.size)]
        tot, nb = 0.0, 0
        for i in range(0, perm.size - BS + 1, BS):
            idx = perm[i:i + BS]
            loss = train_step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item(); nb += 1
        err = val_error()
        log.info("[%s] epoch %2d  xent %.4f  val_err %.2f%%", stage_name, ep, tot / nb, err)
        if err < best_stage - 0.05:
            best_stage, bad = err, 0
        else:
            bad += 1
        if stage_name == "all bodies" and err < best[0]:
            best = (err, ep, tree_map(lambda a: mx.array(a), model.parameters()))
        if bad >= PATIENCE:
            log.info("[%s] no val gain for %d epochs, leaving stage at epoch %d", stage_name, PATIENCE, ep)
            break

model.update(best[2])
mx.eval(model.parameters())
final = val_error()
log.info("restored epoch %d of stage 'all bodies': val_err %.2f%% (recomputed %.2f%%), acc %.2f%%",
         best[1], best[0], final, 100 - final)
log.info("majority-class val_err %.2f%%, wall %.1fs",
         100.0 - 100.0 * max(float((yva == c).mean()) for c in range(3)), time.time() - t0)
