"""Mean-teacher regression: the student is trained, the teacher is an EMA copy used as a soft target."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def mlp():
    return nn.Sequential(nn.Linear(4, 32), nn.SiLU(), nn.Linear(32, 1))


class MeanTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = mlp()
        self.teacher = mlp()
        self.teacher.update(self.student.parameters())
        self.teacher.freeze()

    def __call__(self, x, noise=0.1):
        pred = self.student(x + noise * mx.random.normal(x.shape))
        target = mx.stop_gradient(self.teacher(x))
        return pred, target

    def ema(self, decay=0.99):
        new = tree_map(lambda t, s: decay * t + (1 - decay) * s,
                       self.teacher.parameters(), self.student.parameters())
        self.teacher.update(new)


def objective(model, x, y, lam=0.5):
    pred, target = model(x)
    return nn.losses.mse_loss(pred, y) + lam * nn.losses.mse_loss(pred, target)


def main():
    mx.random.seed(1)
    X = mx.random.normal((1024, 4))
    Y = (mx.sin(X[:, :1] * 2) + X[:, 1:2] * X[:, 2:3])
    model = MeanTeacher()
    mx.eval(model.parameters())
    teacher0 = [mx.array(p) for _, p in tree_flatten(model.teacher.parameters())]
    opt = optim.Adam(learning_rate=3e-3)
    loss_grad = nn.value_and_grad(model, objective)

    for step in range(600):
        idx = mx.random.randint(0, 1024, (64,))
        loss, grads = loss_grad(model, X[idx], Y[idx])
        opt.update(model, grads)
        model.ema()
        mx.eval(model.parameters(), opt.state)
        if step % 150 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")

    s_mse = nn.losses.mse_loss(model.student(X), Y).item()
    t_mse = nn.losses.mse_loss(model.teacher(X), Y).item()
    moved = max(mx.abs(a - b).max().item() for a, (_, b) in zip(teacher0, tree_flatten(model.teacher.parameters())))
    print(f"student mse {s_mse:.4f}  teacher mse {t_mse:.4f}  teacher max |delta| {moved:.3f}")


if __name__ == "__main__":
    main()
