# Amber lot grading: noisy-student self-training over three generations.
# Metrics go out as statsd-style lines (name:value|type).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
D, K = 8, 4
W1 = rng.normal(size=(D, 12)) / np.sqrt(D)
W2 = rng.normal(size=(12, K)) * 1.6


def draw(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    z = np.tanh(x @ W1) @ W2 + 0.35 * x[:, :K]
    y = np.argmax(z + rng.gumbel(size=z.shape) * 0.5, axis=1)
    return x, y.astype(np.int32)


x_lab, y_lab = draw(240)
x_unl, _ = draw(6000)
x_test, y_test = draw(2000)
x_lab, y_lab, x_unl = mx.array(x_lab), mx.array(y_lab), mx.array(x_unl)
x_test, y_test = mx.array(x_test), mx.array(y_test)
majority = float(np.bincount(np.array(y_test)).max() / len(y_test))


def emit(name, value, kind="g"):
    print(f"amber.{name}:{value}|{kind}", flush=True)


class Grader(nn.Module):
    def __init__(self, width, depth, drop, jitter):
        super().__init__()
        dims = [D] + [width] * depth
        self.body = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.drop = nn.Dropout(drop)
        self.head = nn.Linear(width, K)
        self.jitter = jitter

    def __call__(self, x):
        if self.training and self.jitter > 0:
            x = x + self.jitter * mx.random.normal(x.shape)
        for layer in self.body:
            x = self.drop(nn.silu(layer(x)))
        return self.head(x)


def accuracy(model, x, y):
    model.eval()
    acc = mx.mean(mx.argmax(model(x), axis=1) == y).item()
    model.train()
    return acc


def fit(tag, model, steps, soft=None, report_every=100):
    warm = 50
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, steps - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(m, xl, yl, xu, pu):
        sup = nn.losses.cross_entropy(m(xl), yl, reduction="mean")
        if xu is None:
            return sup, sup, mx.array(0.0)
        logp = nn.log_softmax(m(xu), axis=-1)
        pseudo = -mx.mean(mx.sum(pu * logp, axis=-1))
        return sup + pseudo, sup, pseudo

    vg = nn.value_and_grad(model, lambda m, *a: loss_fn(m, *a)[0])
    model.train()
    n_unl = x_unl.shape[0]
    for step in range(1, steps + 1):
        li = mx.array(rng.integers(0, x_lab.shape[0], 64))
        xl, yl = x_lab[li], y_lab[li]
        if soft is not None:
            ui = mx.array(rng.integers(0, n_unl, 192))
            xu, pu = x_unl[ui], soft[ui]
        else:
            xu = pu = None
        loss, grads = vg(model, xl, yl, xu, pu)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % report_every == 0:
            _, sup, pseudo = loss_fn(model, xl, yl, xu, pu)
            lr_now = float(sched(step - 1).item())
            emit(f"{tag}.step", step, "c")
            emit(f"{tag}.lr", f"{lr_now:.6f}")
            emit(f"{tag}.loss", f"{loss.item():.4f}")
            emit(f"{tag}.loss_labelled", f"{sup.item():.4f}")
            if soft is not None:
                emit(f"{tag}.loss_pseudo", f"{pseudo.item():.4f}")
            emit(f"{tag}.test_acc", f"{accuracy(model, x_test, y_test):.4f}")
    return model


t0 = time.time()
emit("data.labelled", x_lab.shape[0], "c")
emit("data.unlabelled", x_unl.shape[0], "c")
emit("baseline.majority_acc", f"{majority:.4f}")

# generation 0: small clean grader on the labelled lots only, reported at the end only
teacher = Grader(48, 1, 0.0, 0.0)
fit("gen0", teacher, 300, soft=None, report_every=300)
accs = {"gen0": accuracy(teacher, x_test, y_test)}

for gen, width in [(1, 96), (2, 128), (3, 128)]:
    teacher.eval()
    teacher.freeze()
    soft = mx.stop_gradient(mx.softmax(teacher(x_unl), axis=-1))
    ent = -mx.mean(mx.sum(soft * mx.log(soft + 1e-12), axis=-1)).item()
    emit(f"gen{gen}.pseudo_entropy_floor", f"{ent:.4f}")
    student = Grader(width, 2, 0.2, 0.3)
    fit(f"gen{gen}", student, 400, soft=soft, report_every=100)
    accs[f"gen{gen}"] = accuracy(student, x_test, y_test)
    emit(f"gen{gen}.gain_vs_gen0", f"{accs[f'gen{gen}'] - accs['gen0']:+.4f}")
    teacher = student

for k, v in accs.items():
    emit(f"final.{k}.test_acc", f"{v:.4f}")
emit("final.majority_acc", f"{majority:.4f}")
emit("final.seconds", f"{time.time() - t0:.1f}")
