# Tiny SFT-style run: a next-token model on synthetic "instruction -> answer" tokens.
# The training config asks for warmup + cosine decay and weight decay (like a YAML recipe).
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {
    "lr": 0.025,
    "warmup_ratio": 0.2,
    "scheduler": "cosine",
    "weight_decay": 0.05,
    "iters": 300,
    "batch_size": 128,
    "vocab": 16,
    "ctx": 3,
}

mx.random.seed(3)
V, C = CONFIG["vocab"], CONFIG["ctx"]


def make_batch(n):
    x = mx.random.randint(0, V, (n, C))
    y = (5 * x[:, 0] + 7 * x[:, 1]) % V
    return x, y


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.l1 = nn.Linear(32 * C, 128)
        self.out = nn.Linear(128, V)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.l1(h))
        return self.out(h)


def build_schedule(cfg):
    total = cfg["iters"]
    warm = int(total * cfg["warmup_ratio"])
    decay = optim.cosine_decay(cfg["lr"], total - warm, 1e-5)
    if warm == 0:
        return decay
    ramp = optim.linear_schedule(0.0, cfg["lr"], warm)
    return optim.join_schedules([ramp, decay], [warm])


def build_optimizer(cfg):
    sched = build_schedule(cfg)
    return optim.AdamW(learning_rate=sched, weight_decay=cfg["weight_decay"])


model = TinyLM()
opt = build_optimizer(CONFIG)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
xe, ye = make_batch(2048)
t0 = time.time()
for it in range(1, CONFIG["iters"] + 1):
    x, y = make_batch(CONFIG["batch_size"])
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0 or it == 1:
        acc = (mx.argmax(model(xe), axis=-1) == ye).mean().item()
        lr = opt.learning_rate.item()
        print(f"Iter {it}: Train loss {loss.item():.3f}, Eval acc {acc:.3f}, Learning Rate {lr:.3e}")
print(f"done in {time.time() - t0:.1f}s")
