"""Knowledge distillation: a frozen teacher MLP (trained first) and a small student trained on
soft targets at temperature T plus hard labels; prints a metric table every 100 steps."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N, D, C = 2048, 10, 5
X = mx.random.normal((N, D))
centers = mx.random.normal((C, D)) * 1.5
Y = mx.argmin(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)


def mlp(hidden):
    return nn.Sequential(nn.Linear(D, hidden), nn.ReLU(), nn.Linear(hidden, C))


teacher, student = mlp(64), mlp(8)


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_opt = optim.Adam(learning_rate=3e-3)
t_step = nn.value_and_grad(teacher, ce)
for _ in range(300):
    idx = mx.random.randint(0, N, (128,))
    _, g = t_step(teacher, X[idx], Y[idx])
    t_opt.update(teacher, g)
    mx.eval(teacher.parameters(), t_opt.state)
teacher.freeze()

T, ALPHA = 3.0, 0.7


def kd_loss(m, x, y):
    s_logits = m(x)
    t_logp = nn.log_softmax(teacher(x) / T, axis=-1)
    s_logp = nn.log_softmax(s_logits / T, axis=-1)
    kl = (mx.exp(t_logp) * (t_logp - s_logp)).sum(-1).mean() * T * T
    hard = nn.losses.cross_entropy(s_logits, y, reduction="mean")
    return ALPHA * kl + (1 - ALPHA) * hard, (kl, hard)


s_opt = optim.SGD(learning_rate=0.05, momentum=0.9)
s_step = nn.value_and_grad(student, kd_loss)
print(f"{'step':>5} {'kd_loss':>8} {'kl':>8} {'ce':>8} {'agree':>6}")
for step in range(1, 1201):
    idx = mx.random.randint(0, N, (128,))
    (loss, (kl, hard)), g = s_step(student, X[idx], Y[idx])
    s_opt.update(student, g)
    mx.eval(student.parameters(), s_opt.state, loss, kl, hard)
    if step % 100 == 0:
        agree = (mx.argmax(student(X), 1) == mx.argmax(teacher(X), 1)).mean().item()
        print(f"{step:>5} {loss.item():8.4f} {kl.item():8.4f} {hard.item():8.4f} {agree:6.3f}")
