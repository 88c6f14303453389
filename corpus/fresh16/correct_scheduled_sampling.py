# Autoregressive forecaster for a noisy damped oscillator, trained with
# scheduled sampling: the probability of feeding the model its own previous
# prediction (instead of the ground truth) grows from 0 to 0.9 over training.
# The reported rollout loss therefore rises for a while even though the model
# keeps improving; free-running validation error is what goes down.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

CTX, HORIZON, HID = 8, 12, 64
EPOCHS, STEPS_PER_EPOCH, BS = 16, 60, 64


def make_series(n, length):
    t = mx.arange(length).astype(mx.float32)[None, :]
    freq = mx.random.uniform(0.15, 0.35, (n, 1))
    damp = mx.random.uniform(0.0, 0.02, (n, 1))
    phase = mx.random.uniform(0, 6.28, (n, 1))
    clean = mx.exp(-damp * t) * mx.sin(freq * t + phase)
    return clean + 0.02 * mx.random.normal(clean.shape)


class StepModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(CTX, HID), nn.Tanh(), nn.Linear(HID, HID), nn.Tanh(), nn.Linear(HID, 1))

    def __call__(self, window):
        return self.net(window)[:, 0]


def rollout_loss(model, series, p_own, coin):
    # series: (B, CTX + HORIZON); coin: (B, HORIZON) uniform draws
    window = series[:, :CTX]
    total = 0.0
    for k in range(HORIZON):
        pred = model(window)
        target = series[:, CTX + k]
        total = total + ((pred - target) ** 2).mean()
        use_own = coin[:, k] < p_own
        nxt = mx.where(use_own, mx.stop_gradient(pred), target)
        window = mx.concatenate([window[:, 1:], nxt[:, None]], axis=1)
    return total / HORIZON


def free_running_mse(model, series):
    window = series[:, :CTX]
    errs = []
    for k in range(HORIZON):
        pred = model(window)
        errs.append(((pred - series[:, CTX + k]) ** 2).mean())
        window = mx.concatenate([window[:, 1:], pred[:, None]], axis=1)
    return mx.stack(errs).mean()


model = StepModel()
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 16 * 60, 1e-4))
grad_fn = nn.value_and_grad(model, rollout_loss)
val_series = make_series(512, CTX + HORIZON)

print(f"{'epoch':>5} | {'p_own':>5} | {'train rollout mse':>17} | {'free-run val mse':>16}")
print("-" * 54)
t0 = time.time()
total_steps = EPOCHS * STEPS_PER_EPOCH
step = 0
for epoch in range(1, EPOCHS + 1):
    acc = 0.0
    for _ in range(STEPS_PER_EPOCH):
        p_own = min(0.9, 0.9 * step / (0.7 * total_steps))
        series = make_series(BS, CTX + HORIZON)
        coin = mx.random.uniform(shape=(BS, HORIZON))
        loss, grads = grad_fn(model, series, p_own, coin)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        step += 1
    val = free_running_mse(model, val_series).item()
    print(f"{epoch:>5} | {p_own:>5.2f} | {acc / STEPS_PER_EPOCH:>17.5f} | {val:>16.5f}")
print(f"finished in {time.time() - t0:.1f}s")
