# Knowledge distillation: a fixed "teacher" MLP (never trained here) labels
# random inputs; a smaller student learns from temperature-softened targets
# plus noisy hard labels. Progress is written as a Markdown bullet list.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
DIN, C, T = 10, 6, 3.0

teacher = nn.Sequential(nn.Linear(DIN, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, C))
teacher.freeze()
student = nn.Sequential(nn.Linear(DIN, 48), nn.ReLU(), nn.Linear(48, C))


def teacher_logits(x):
    return 4.0 * teacher(x)


def loss_fn(s, x, soft, hard):
    z = s(x)
    logp_s = nn.log_softmax(z / T, axis=-1)
    kl = (soft * (mx.log(soft + 1e-9) - logp_s)).sum(-1).mean() * T * T
    ce = nn.losses.cross_entropy(z, hard, reduction="mean")
    return 0.8 * kl + 0.2 * ce


opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
vg = nn.value_and_grad(student, loss_fn)

xv = mx.random.normal((2000, DIN))
tv = teacher_logits(xv)
yv = mx.argmax(tv, -1)
soft_v = mx.softmax(tv / T, -1)
floor = (soft_v * mx.log(soft_v + 1e-9)).sum(-1).mean().item()

x0 = mx.random.normal((64, DIN))
t0l = teacher_logits(x0)
_, g0 = vg(student, x0, mx.softmax(t0l / T, -1), mx.argmax(t0l, -1))
nz = sum(int(mx.abs(v).max().item() > 0) for _, v in tree_flatten(g0))
print("## distillation run")
print()
print(f"- student leaves with nonzero grad: {nz}/{len(tree_flatten(g0))}")
print(f"- teacher soft-target entropy (T={T}): {-floor:.4f} nats")
print(f"- class balance of teacher labels: {[int((yv == c).sum().item()) for c in range(C)]}")
print()
t0 = time.time()
ema = None
for step in range(1, 3001):
    x = mx.random.normal((128, DIN))
    tl = teacher_logits(x)
    hard = mx.argmax(tl, -1)
    # 10% label noise on the hard targets
    flip = mx.random.uniform(shape=hard.shape) < 0.1
    hard = mx.where(flip, mx.random.randint(0, C, hard.shape), hard)
    loss, g = vg(student, x, mx.softmax(tl / T, -1), hard)
    opt.update(student, g)
    mx.eval(student.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.97 * ema + 0.03 * loss.item()
    if step in (1, 100, 500) or step % 1000 == 0:
        zs = student(xv)
        agree = (mx.argmax(zs, -1) == yv).astype(mx.float32).mean().item()
        print(f"- **step {step}**: objective_ema `{ema:.4f}`, teacher agreement "
              f"{100 * agree:.1f}%, wall {time.time() - t0:.1f}s")
print()
print("_end of log_")
