"""Small-memory recipe: micro-batches of 16, gradients averaged over 8 micro-batches per
optimizer step (each partial sum evaluated right away), Adafactor. Metrics are printed as dicts."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(3)
D, C = 20, 5
centers = mx.random.normal((C, D)) * 2.0
labels_all = mx.random.randint(0, C, (4096,))
X_all = centers[labels_all] + mx.random.normal((4096, D)) * 3.0

model = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, C))
opt = optim.Adafactor(learning_rate=2e-3, relative_step=False, scale_parameter=False)
lg = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

MICRO, ACCUM = 16, 8
ptr = 0
for update in range(1, 121):
    acc_grads, acc_loss = None, 0.0
    for _ in range(ACCUM):
        x, y = X_all[ptr:ptr + MICRO], labels_all[ptr:ptr + MICRO]
        ptr = (ptr + MICRO) % 4096
        loss, grads = lg(model, x, y)
        grads = tree_map(lambda g: g / ACCUM, grads)
        acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
        mx.eval(acc_grads, loss)
        acc_loss += loss.item() / ACCUM
    opt.update(model, acc_grads)
    mx.eval(model.parameters(), opt.state)
    if update % 10 == 0 or update == 1:
        acc = (model(X_all[:512]).argmax(1) == labels_all[:512]).mean().item()
        print({"update": update, "loss": round(acc_loss, 4), "acc": round(acc, 3),
               "samples": update * MICRO * ACCUM})
