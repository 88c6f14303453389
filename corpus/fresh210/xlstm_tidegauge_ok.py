# sLSTM block (exponential gating, stabilizer state) trained to forecast a
# tide-gauge-like signal one step ahead. Hand-rolled cell, Adam, per-window loop.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

HID = 32
SEQ = 24
BATCH = 32
STEPS = 200


def make_batch(key_step):
    phase = mx.random.uniform(0, 2 * math.pi, (BATCH, 1))
    amp = mx.random.uniform(0.5, 1.5, (BATCH, 1))
    t = mx.arange(SEQ + 1, dtype=mx.float32)[None, :]
    sig = amp * mx.sin(0.37 * t + phase) + 0.4 * amp * mx.sin(0.11 * t + 2 * phase)
    sig = sig + 0.02 * mx.random.normal(sig.shape)
    return sig[:, :-1, None], sig[:, 1:, None]


class SLSTMCell(nn.Module):
    def __init__(self, d_in, hid):
        super().__init__()
        self.W = nn.Linear(d_in, 4 * hid)
        self.R = nn.Linear(hid, 4 * hid, bias=False)
        self.hid = hid

    def __call__(self, x, state):
        c_tm1, n_tm1, h_tm1, m_tm1 = state
        g = self.W(x) + self.R(h_tm1)
        i_t, f_t, z_t, o_t = mx.split(g, 4, axis=-1)

        m_t = mx.maximum(f_t + m_tm1, i_t)
        i_t = mx.exp(i_t - m_t)
        f = mx.exp(f_t + m_tm1 - m_t)

        z = mx.tanh(z_t)
        o = mx.sigmoid(o_t)
        c_t = f * c_tm1 + i_t * z
        n_t = f * n_tm1 + i_t
        h_t = o * (c_t / n_t)
        return h_t, (c_t, n_t, h_t, m_t)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = SLSTMCell(1, HID)
        self.norm = nn.LayerNorm(HID)
        self.head = nn.Linear(HID, 1)

    def __call__(self, xs):
        B = xs.shape[0]
        state = (mx.zeros((B, HID)), mx.ones((B, HID)),
                 mx.zeros((B, HID)), mx.zeros((B, HID)))
        outs = []
        for t in range(xs.shape[1]):
            h, state = self.cell(xs[:, t, :], state)
            outs.append(self.head(self.norm(h)))
        return mx.stack(outs, axis=1)


model = Forecaster()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, xs, ys):
    return nn.losses.mse_loss(m(xs), ys)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, STEPS + 1):
    xs, ys = make_batch(it)
    loss, grads = step_fn(model, xs, ys)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        gn = optim.clip_grad_norm(grads, 1e9)[1]
        print(f"it {it:4d} | mse {loss.item():.5f} | |g| {gn.item():.3e}")

xs, ys = make_batch(0)
naive = nn.losses.mse_loss(xs, ys)
final = loss_fn(model, xs, ys)
print(f"holdout mse {final.item():.5f} (persistence baseline {naive.item():.5f}) in {time.time()-t0:.1f}s")
