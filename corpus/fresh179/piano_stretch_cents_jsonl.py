"""Piano tuning helper: predict how many cents the 4th partial of a string sits
sharp of the ideal harmonic (inharmonicity stretch) from simple string specs.
Linear warmup from lr=0, compiled train step, one JSON line per epoch."""
import json, math, random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

def make_string(key):
    # key 1..88; diameter (mm), speaking length (m), tension (kN), wound flag
    f0 = 27.5 * 2 ** ((key - 1) / 12)
    length = 1.9 * math.exp(-key / 40.0) + 0.05 + random.uniform(-0.02, 0.02)
    diam = 0.8 + 0.9 * math.exp(-key / 30.0) + random.uniform(-0.03, 0.03)
    wound = 1.0 if key < 30 else 0.0
    tension = 0.7 + 0.2 * random.random()
    core = diam * (0.55 if wound else 1.0)
    # Fletcher inharmonicity B ~ d^4 / (T L^2 f0^2)-ish; cents of partial n: 1200*log2(sqrt(1+B n^2)/sqrt(1+B))
    B = 3.2e-4 * core ** 4 / (tension * length ** 2) * (440.0 / f0) ** 0.3
    n = 4
    cents = 1200 * math.log2(math.sqrt(1 + B * n * n) / math.sqrt(1 + B))
    cents += random.gauss(0, 0.15)
    feats = [key / 88.0, math.log(length), diam, wound, tension, math.log(f0) / 8.0]
    return feats, cents

data = [make_string(random.randint(1, 88)) for _ in range(1200)]
X = mx.array([d[0] for d in data])
Y = mx.array([[d[1]] for d in data])
mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-6
X = (X - mu) / sd
Xtr, Ytr, Xva, Yva = X[:1000], Y[:1000], X[1000:], Y[1000:]
baseline_mae = mx.abs(Yva - Ytr.mean()).mean().item()

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())

EPOCHS, BATCH = 40, 50
steps_per_epoch = 1000 // BATCH
warm = optim.linear_schedule(0.0, 3e-3, 5 * steps_per_epoch)
decay = optim.cosine_decay(3e-3, (EPOCHS - 5) * steps_per_epoch, 1e-5)
sched = optim.join_schedules([warm, decay], [5 * steps_per_epoch])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")

state = [model.state, opt.state]

def _train(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss

from functools import partial
step = partial(mx.compile, inputs=state, outputs=state)(_train)

# gradient check before training: every weight must get signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:200], Ytr[:200])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_check", "zero_grad_params": zero, "n_arrays": len(tree_flatten(g0)), "lr_at_step0": float(opt.learning_rate.item())}))

for ep in range(EPOCHS):
    perm = mx.random.permutation(1000)
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
    mae = mx.abs(model(Xva) - Yva).mean().item()
    print(json.dumps({"epoch": ep, "lr": round(float(opt.learning_rate.item()), 6),
                      "train_huber": round(tot / steps_per_epoch, 4),
                      "val_mae_cents": round(mae, 3), "mean_guess_mae_cents": round(baseline_mae, 3)}))

pred = model(Xva)
worst = mx.abs(pred - Yva).max().item()
print(json.dumps({"event": "done", "val_mae_cents": round(mae, 3), "worst_cents": round(worst, 2),
                  "skill_vs_mean_pct": round(100 * (1 - mae / baseline_mae), 1)}))
