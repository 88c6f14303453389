# Deep equilibrium (DEQ) classifier: the hidden state is the fixed point
#   z* = tanh(z* W^T + x U^T + b)
# found by plain fixed-point iteration; gradients come from the implicit
# function theorem (adjoint fixed point) in a hand-written custom vjp.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H, FWD_IT, ADJ_IT = 32, 40, 40


@mx.custom_function
def deq_fixed_point(W, U, b, x):
    inj = x @ U.T + b
    z = mx.zeros((x.shape[0], W.shape[0]))
    for _ in range(FWD_IT):
        z = mx.tanh(z @ W.T + inj)
    return z


@deq_fixed_point.vjp
def deq_fixed_point_vjp(primals, cotangent, output):
    W, U, b, x = primals
    z = output
    s = 1.0 - z * z                      # tanh' at the fixed point
    u = cotangent
    for _ in range(ADJ_IT):              # u = g + (u*s) W   (adjoint fixed point)
        u = cotangent + (u * s) @ W
    a = u * s                            # cotangent of the pre-activation
    return a.T @ z, a.T @ x, a.sum(0), a @ U


class DEQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.V = mx.random.normal((H, H)) * 0.1
        self.inject = nn.Linear(2, H)
        self.readout = nn.Linear(H, 3)

    def w_eff(self):
        # keep ||W||_F <= 0.8 so the tanh map is a contraction (fixed point exists, unique)
        n = mx.sqrt((self.V * self.V).sum())
        return self.V * mx.minimum(1.0, 0.8 / (n + 1e-6))

    def __call__(self, x):
        z = deq_fixed_point(self.w_eff(), self.inject.weight, self.inject.bias, x)
        return self.readout(z), z


def spirals(n, seed):
    k = mx.random.key(seed)
    k1, k2 = mx.random.split(k)
    y = mx.random.randint(0, 3, (n,), key=k1)
    r = mx.random.uniform(0.05, 1.0, (n,), key=k2)
    th = y.astype(mx.float32) * (2 * math.pi / 3) + 4.0 * r + 0.5 * mx.random.normal((n,))
    return mx.stack([r * mx.cos(th), r * mx.sin(th)], axis=1) * 2.0, y


def loss_fn(model, x, y):
    logits, _ = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def main():
    mx.random.seed(5)
    xtr, ytr = spirals(3000, 1)
    xva, yva = spirals(600, 2)
    model = DEQ()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=5e-3)
    vg = nn.value_and_grad(model, loss_fn)
    print(f"{'iter':>5} {'loss':>8} {'fp-resid':>9} {'val-acc':>8} {'|W|_F':>6}")
    for it in range(1, 1201):
        idx = mx.random.randint(0, xtr.shape[0], (64,))
        loss, grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 100 == 0 or it == 1:
            logits, z = model(xva)
            W = model.w_eff()
            resid = mx.abs(mx.tanh(z @ W.T + model.inject(xva)) - z).max()
            acc = (mx.argmax(logits, -1) == yva).astype(mx.float32).mean()
            print(f"{it:5d} {loss.item():8.4f} {resid.item():9.2e} {acc.item():8.3f} "
                  f"{mx.sqrt((W*W).sum()).item():6.3f}")


if __name__ == "__main__":
    main()
