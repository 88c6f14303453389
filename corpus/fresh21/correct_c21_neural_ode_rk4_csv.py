"""Neural ODE: learn the vector field of a 2-D cubic spiral from short trajectory
snippets, integrating with a hand-written fixed-step RK4 and backpropagating through
the unrolled solver. Progress goes to stdout as CSV."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TRUE_A = mx.array([[-0.1, 2.0], [-2.0, -0.1]])
N_T, T_END, SNIPPET, BATCH = 600, 15.0, 10, 24
DT = T_END / (N_T - 1)


def true_field(y):
    return (y ** 3) @ TRUE_A


def rk4_step(f, y, h):
    k1 = f(y)
    k2 = f(y + 0.5 * h * k1)
    k3 = f(y + 0.5 * h * k2)
    k4 = f(y + h * k3)
    return y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate(f, y0, n_steps, h, substeps=1):
    ys = [y0]
    y = y0
    for _ in range(n_steps):
        for _ in range(substeps):
            y = rk4_step(f, y, h / substeps)
        ys.append(y)
    return mx.stack(ys, axis=0)  # (n_steps+1, ..., 2)


class ODEFunc(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, 2)

    def __call__(self, y):
        return self.l2(mx.tanh(self.l1(y ** 3)))


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    true_traj = integrate(true_field, mx.array([2.0, 0.0]), N_T - 1, DT, substeps=4)  # (N_T, 2)
    true_traj = true_traj + 0.01 * mx.random.normal(true_traj.shape)  # measurement noise
    mx.eval(true_traj)

    func = ODEFunc()
    opt = optim.RMSprop(learning_rate=3e-3)

    def loss_fn(model, y0, target):
        pred = integrate(model, y0, SNIPPET, DT)
        return mx.mean(mx.abs(pred - target))

    vg = nn.value_and_grad(func, loss_fn)
    idx_base = np.arange(SNIPPET + 1)

    print("iter,batch_l1,rollout_l1_150,elapsed_s")
    t0 = time.time()
    for it in range(1, 401):
        starts = rng.choice(N_T - SNIPPET - 1, BATCH, replace=False)
        y0 = true_traj[mx.array(starts)]                                  # (B, 2)
        target = true_traj[mx.array(starts[None, :] + idx_base[:, None])]  # (S+1, B, 2)
        loss, grads = vg(func, y0, target)
        opt.update(func, grads)
        mx.eval(func.parameters(), opt.state, loss)
        if it % 25 == 0:
            roll = integrate(func, true_traj[0], 149, DT)
            roll_l1 = mx.mean(mx.abs(roll - true_traj[:150])).item()
            print(f"{it},{loss.item():.5f},{roll_l1:.5f},{time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
