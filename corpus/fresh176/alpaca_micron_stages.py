# Alpaca fleece testing: mean fibre diameter (microns) from herd-book readings.
# Two stages: tuis (yearlings) first, then the whole herd incl. older, coarser animals.
# Each stage warms its LR up from exactly 0, early-stops on validation MAE and restores the best weights.
import logging, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("fleece")
rng = np.random.default_rng(9)
mx.random.seed(9)

def herd(n, max_age):
    age = rng.uniform(1, max_age, n)
    nutr = rng.uniform(0, 1, n)
    alt = rng.uniform(2.5, 4.5, n)          # km
    interval = rng.uniform(10, 26, n)       # months since last shearing
    site = rng.integers(0, 3, n)            # blanket / neck / leg
    colour = rng.uniform(0, 1, n)           # 0 white .. 1 black
    sex = rng.integers(0, 2, n)
    mic = (17.5 + 1.6 * np.log(age) + 0.35 * np.maximum(age - 4, 0) ** 1.3
           + 2.2 * nutr * np.sqrt(age) - 0.8 * (alt - 3.5) + 0.05 * interval
           + np.array([0.0, 1.5, 3.2])[site] + 0.9 * colour + 0.4 * sex
           + rng.normal(0, 0.4 + 0.12 * age, n))
    x = np.stack([age / 5, nutr, alt - 3.5, interval / 12, site == 1, site == 2, colour, sex], 1)
    return x.astype(np.float32), mic.astype(np.float32)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)
    def __call__(self, x):
        return self.head(self.body(x))[:, 0] + 22.0

model = Net()
def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()
vg = nn.value_and_grad(model, mse)

STAGES = [("tui", 2.0, 40), ("herd", 14.0, 40)]
for stage, max_age, epochs in STAGES:
    xtr, ytr = herd(3000, max_age)
    xva, yva = herd(800, max_age)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
    steps_per = 3000 // 100
    total = epochs * steps_per
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    best, best_mae, bad, patience = None, float("inf"), 0, 6
    log.info("stage %s: %d animals, age <= %.0f y, naive MAE (predict train mean) %.2f um",
             stage, len(ytr), max_age, float(np.abs(yva - ytr.mean()).mean()))
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(3000))
        tot = 0.0
        for i in range(steps_per):
            idx = perm[i * 100:(i + 1) * 100]
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        mae = mx.abs(model(Xva) - Yva).mean().item()
        flag = ""
        if mae < best_mae - 1e-3:
            best, best_mae, bad, flag = tree_map(lambda a: a, model.parameters()), mae, 0, " *"
        else:
            bad += 1
        log.info("stage=%s epoch=%02d lr=%.5f train_mse=%.3f val_mae=%.3fum best=%.3f%s",
                 stage, ep, float(opt.learning_rate), tot / steps_per, mae, best_mae, flag)
        if bad >= patience:
            log.warning("stage=%s no val improvement for %d epochs, stopping", stage, patience)
            break
    model.update(best)
    mx.eval(model.parameters())
    log.info("stage=%s restored best val_mae=%.3fum (check %.3fum)", stage, best_mae,
             mx.abs(model(Xva) - Yva).mean().item())
