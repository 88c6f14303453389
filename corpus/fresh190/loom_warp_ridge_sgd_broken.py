# Warp-tension regression for a jacquard loom: 64 strain-gauge channels, only 40 logged
# bolts to fit on, so the fit leans on L2 weight decay.  Plain SGD (no momentum).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class DecaySGD(optim.Optimizer):
    """SGD with optional momentum / dampening / nesterov and L2 weight decay."""

    def __init__(self, learning_rate, momentum=0.0, weight_decay=0.0,
                 dampening=0.0, nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening.")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter, state):
        pass

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        if self.momentum <= 0:
            return parameter - lr * gradient

        v = state.get("v", mx.zeros_like(gradient))

        if self.weight_decay != 0:
            gradient += self.weight_decay * parameter

        v = self.momentum * v
        if self.dampening > 0:
            v += (1 - self.dampening) * gradient
        else:
            v += gradient

        if self.nesterov:
            update = gradient + self.momentum * v
        else:
            update = v
        state["v"] = v
        return parameter - lr * update


rng = np.random.default_rng(7)
P, N_TRAIN, N_VAL = 64, 40, 400
true_w = np.zeros(P, dtype=np.float32)
true_w[:12] = rng.normal(0, 1.0, 12)
def make(n):
    X = rng.normal(0, 1, (n, P)).astype(np.float32)
    y = X @ true_w + 0.1 * rng.normal(0, 1, n).astype(np.float32)
    return mx.array(X), mx.array(y[:, None])
Xtr, ytr = make(N_TRAIN)
Xva, yva = make(N_VAL)

mx.random.seed(3)
model = nn.Linear(P, 1)
model.weight = mx.random.normal((1, P)) * 0.6
mx.eval(model.parameters())

WD = 0.08
opt = DecaySGD(learning_rate=0.05, momentum=0.0, weight_decay=WD)

def mse(m, X, y):
    return mx.mean((m(X) - y) ** 2)

grad_fn = nn.value_and_grad(model, mse)

print(f"bolts={N_TRAIN} channels={P} wd={WD} optimizer=SGD(momentum=0)")
print(f"{'step':>5} | {'fit_mse':>8} | {'l2_term':>8} | {'ridge_obj':>9} | {'holdout_mse':>11} | {'|w|':>6}")
for step in range(1, 3001):
    loss, grads = grad_fn(model, Xtr, ytr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 250 == 0:
        wn2 = mx.sum(model.weight ** 2)
        l2 = 0.5 * WD * wn2
        va = mse(model, Xva, yva)
        print(f"{step:5d} | {loss.item():8.4f} | {l2.item():8.4f} | {(loss + l2).item():9.4f} | "
              f"{va.item():11.4f} | {math.sqrt(wn2.item()):6.3f}")

final_va = mse(model, Xva, yva).item()
print(f"done: holdout mse {final_va:.4f} (noise floor 0.0100)")
