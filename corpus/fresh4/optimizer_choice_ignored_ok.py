"""Config-driven trainer (the config says AdamW with a warmup + cosine schedule)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CFG = {"optimizer": "adamw", "lr": 1e-3, "warmup_steps": 40, "total_steps": 480,
       "weight_decay": 0.01, "batch_size": 64, "epochs": 6}

mx.random.seed(8)
N_CLASSES, DIM = 10, 20
protos = mx.random.normal((N_CLASSES, DIM))
X = mx.random.normal((5120, DIM)) * 0.8
Y = mx.argmax(X @ protos.T, axis=1)


def build_schedule(cfg):
    warm = optim.linear_schedule(1e-6, cfg["lr"], cfg["warmup_steps"])
    decay = optim.cosine_decay(cfg["lr"], cfg["total_steps"] - cfg["warmup_steps"])
    return optim.join_schedules([warm, decay], [cfg["warmup_steps"]])


def build_optimizer(cfg):
    schedule = build_schedule(cfg)
    if cfg["optimizer"] == "adamw":
        return optim.AdamW(learning_rate=schedule, weight_decay=cfg["weight_decay"])
    return optim.SGD(learning_rate=schedule)


model = nn.Sequential(nn.Linear(DIM, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                      nn.Linear(64, N_CLASSES))
opt = build_optimizer(CFG)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
iters = X.shape[0] // CFG["batch_size"]
for epoch in range(CFG["epochs"]):
    perm = mx.random.permutation(X.shape[0])
    for it in range(iters):
        idx = perm[it * CFG["batch_size"]:(it + 1) * CFG["batch_size"]]
        loss, g = vg(model, X[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if (it + 1) % 20 == 0:
            acc = (mx.argmax(model(X[idx]), axis=1) == Y[idx]).mean().item()
            print(f"epoch {epoch} | iter {it + 1}/{iters} | ce={loss.item():.4f} | acc={acc:.3f}")
