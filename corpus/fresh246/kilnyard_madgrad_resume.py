"""Imbalanced 3-class classifier trained with a hand-written MADGRAD optimizer.

Run plan:
  stage A  steps   1-200  MADGRAD, constant lr, checkpoint written at the end
  (the model and optimizer are rebuilt from the checkpoint, as after a restart
   of the job)
  stage B  steps 201-400  same optimizer state resumed; only sparse logging
  stage C  steps 401-500  fresh optimizer with a smaller lr (polishing pass)
Accuracy is reported next to the majority-class baseline.
"""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Optimizer
from mlx.utils import tree_flatten, tree_unflatten


class MADGRAD(Optimizer):
    """Momentumized, adaptive, dual-averaged gradient (Defazio & Jelassi, 2021)."""

    def __init__(self, learning_rate=1e-2, momentum=0.9, eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.eps = eps

    def init_single(self, parameter, state):
        state["s"] = mx.zeros_like(parameter)
        state["nu"] = mx.zeros_like(parameter)
        state["x0"] = mx.array(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        k = (self.step - 1).astype(mx.float32)
        lam = lr * mx.sqrt(k + 1)
        s = state["s"] + lam * gradient
        nu = state["nu"] + lam * mx.square(gradient)
        state["s"], state["nu"] = s, nu
        z = state["x0"] - s / (mx.power(nu, 1.0 / 3.0) + self.eps)
        c = 1.0 - self.momentum
        return (1 - c) * parameter + c * z


class Classifier(nn.Module):
    def __init__(self, d_in=12, hidden=48, n_cls=3):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def make_data(n, key):
    kc, kx, kp = mx.random.split(key, 3)
    probs = mx.array([0.62, 0.25, 0.13])
    y = mx.random.categorical(mx.log(probs), shape=(n,), key=kc)
    centers = mx.random.normal((3, 12), key=mx.random.key(99)) * 0.45
    x = centers[y] + mx.random.normal((n, 12), key=kx)
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def run_stage(name, model, opt, data, steps, log_every, first_step):
    x_tr, y_tr, x_va, y_va, baseline = data
    lg = nn.value_and_grad(model, loss_fn)
    n = x_tr.shape[0]
    for i in range(steps):
        step = first_step + i
        idx = mx.random.randint(0, n, (64,))
        loss, grads = lg(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (i + 1) % log_every == 0:
            print(f"[{name}] step {step:4d} loss {loss.item():.4f} "
                  f"val acc {accuracy(model, x_va, y_va):.3f} (majority baseline {baseline:.3f}) "
                  f"opt step {opt.step.item()}")


def main():
    mx.random.seed(5)
    x_tr, y_tr = make_data(6000, mx.random.key(3))
    x_va, y_va = make_data(1500, mx.random.key(4))
    counts = [int(mx.sum(y_va == c).item()) for c in range(3)]
    baseline = max(counts) / sum(counts)
    data = (x_tr, y_tr, x_va, y_va, baseline)
    print(f"val class counts {counts}, majority baseline acc {baseline:.3f}")

    model = Classifier()
    mx.eval(model.parameters())
    print(f"[init] val acc {accuracy(model, x_va, y_va):.3f}")
    opt = MADGRAD(learning_rate=2e-2)
    run_stage("A", model, opt, data, 200, 25, 1)

    ckpt_dir = tempfile.mkdtemp()
    w_path = os.path.join(ckpt_dir, "model.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    acc_before = accuracy(model, x_va, y_va)
    print(f"checkpoint written after step 200 (val acc {acc_before:.3f})")

    model = Classifier()
    model.load_weights(w_path)
    opt = MADGRAD(learning_rate=2e-2)
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed: val acc {accuracy(model, x_va, y_va):.3f}, optimizer step {opt.step.item()}")
    run_stage("B", model, opt, data, 200, 100, 201)

    opt = MADGRAD(learning_rate=4e-3)
    print("polishing pass with a fresh optimizer (lr 4e-3)")
    run_stage("C", model, opt, data, 100, 20, 401)
    print(f"final val acc {accuracy(model, x_va, y_va):.3f} vs majority baseline {baseline:.3f}")


if __name__ == "__main__":
    main()
