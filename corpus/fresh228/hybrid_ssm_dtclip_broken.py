# Tiny Nemotron-H style SSM mixer trained on a fast-forgetting echo task.
# A (the state decay rate) is held fixed; the selective time step dt is what learns.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

time_step_min, time_step_max = 0.001, 0.1
time_step_limit = (time_step_min, time_step_max)


def compute_dt(dt, dt_bias, time_step_limit):
    dt = nn.softplus(dt + dt_bias)
    return mx.clip(dt, time_step_limit[0], time_step_limit[1])


class SSMMixer(nn.Module):
    def __init__(self, d_in=2, heads=4, state=4):
        super().__init__()
        self.heads, self.n_state = heads, state
        self.x_proj = nn.Linear(d_in, heads)
        self.bc_proj = nn.Linear(d_in, 2 * state)
        self.dt_proj = nn.Linear(d_in, heads)
        # standard Mamba init: dt log-uniform in [time_step_min, time_step_max]
        u = mx.random.uniform(shape=(heads,))
        dt0 = mx.exp(u * (mx.log(mx.array(time_step_max)) - mx.log(time_step_min)) + mx.log(mx.array(time_step_min)))
        self.dt_bias = dt0 + mx.log(-mx.expm1(-dt0))
        self.A_log = mx.zeros((heads,))
        self.D = mx.ones((heads,))
        self.out = nn.Linear(heads, 1)
        self.freeze(keys=["A_log"], recurse=False)

    def __call__(self, u):
        Bsz, T, _ = u.shape
        xs = self.x_proj(u)
        BC = self.bc_proj(u)
        Bm, Cm = BC[..., : self.n_state], BC[..., self.n_state :]
        dt = compute_dt(self.dt_proj(u), self.dt_bias, time_step_limit)
        A = -mx.exp(self.A_log)
        h = mx.zeros((Bsz, self.heads, self.n_state))
        ys = []
        for t in range(T):
            dA = mx.exp(dt[:, t] * A)[..., None]
            h = dA * h + (dt[:, t] * xs[:, t])[..., None] * Bm[:, t, None, :]
            y = (h * Cm[:, t, None, :]).sum(-1) + self.D * xs[:, t]
            ys.append(y)
        return self.out(mx.stack(ys, axis=1)).squeeze(-1)


def make_batch(n, T=24):
    v = mx.random.normal((n, T))
    # target: short echo, y_t = v_t + 0.3 * y_{t-1}
    ys, prev = [], mx.zeros((n,))
    for t in range(T):
        prev = v[:, t] + 0.3 * prev
        ys.append(prev)
    u = mx.stack([v, mx.ones_like(v)], axis=-1)
    return u, mx.stack(ys, axis=1)


model = SSMMixer()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
val_u, val_y = make_batch(64)


def loss_fn(m, u, y):
    return nn.losses.mse_loss(m(u), y)


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
print("step | train_mse | val_mse | mean_dt | |g_dt_bias|")
for it in range(1, 401):
    u, y = make_batch(32)
    loss, grads = step(model, u, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0 or it == 1:
        vl = loss_fn(model, val_u, val_y)
        dtm = compute_dt(model.dt_proj(val_u), model.dt_bias, time_step_limit).mean()
        gn = mx.linalg.norm(grads["dt_bias"])
        print(f"{it:4d} | {loss.item():.4f} | {vl.item():.4f} | {dtm.item():.4f} | {gn.item():.2e}")
print(f"done in {time.time() - t0:.1f}s, final val_mse {loss_fn(model, val_u, val_y).item():.4f}")
