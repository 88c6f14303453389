# Bottle lehr stress model: LSTM over per-zone lehr readings -> residual stress
# (birefringence, nm/cm) of the bottle leaving the last zone.
# Curriculum: short 8-zone lehr section first, then the full 24-zone lehr.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
F = 5  # glass surface temp, air temp, cooling-fan duty, burner duty, belt speed


def make_passes(n, T):
    x = mx.random.normal((n, T, F))
    surf = x[:, :, 0]
    ema = mx.zeros((n,))
    for t in range(T):
        ema = 0.8 * ema + 0.2 * surf[:, t]
    fan_mean = mx.mean(x[:, :, 2], axis=1)
    stress = 38.0 + 9.5 * mx.tanh(ema * 1.5) + 4.0 * fan_mean - 2.0 * x[:, -1, 4]
    stress = stress + 0.8 * mx.random.normal((n,))
    return x, stress


class LehrLSTM(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.LSTM(F, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h, _ = self.rnn(x)
        return self.out(h[:, -1, :]).squeeze(-1)


MU, SD = 38.0, 8.0


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), (y - MU) / SD, reduction="mean")


def bar(i, n, width=20):
    k = int(width * i / n)
    return "#" * k + " " * (width - k)


model = LehrLSTM()
stages = [(8, 240), (24, 240)]
for s, (T, steps) in enumerate(stages, 1):
    xtr, ytr = make_passes(1536, T)
    xva, yva = make_passes(512, T)
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps - warm, 4e-4)], [warm])
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for i in range(1, steps + 1):
        idx = mx.random.randint(0, xtr.shape[0], (64,))
        loss, g = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if i % 30 == 0 or i == 1:
            el = time.time() - t0
            print(f"stage {s}/{len(stages)} zones={T:2d} |{bar(i, steps)}| {i}/{steps} "
                  f"[{el:05.1f}s, {i / max(el, 1e-9):6.1f}it/s, loss={loss.item():.4f}, lr={opt.learning_rate.item():.2e}]")
    pred = model(xva) * SD + MU
    rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
    base = mx.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2)).item()
    print(f"stage {s} done: val RMSE {rmse:.2f} nm/cm (spec-sheet mean guess {base:.2f} nm/cm)")
