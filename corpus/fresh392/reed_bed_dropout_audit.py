import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# constructed reed-bed wetland: outlet nitrate (mg/L) from inflow and weather readings
COLS = ["inflow_no3", "flow_m3h", "water_c", "hrt_h", "do_mgl", "ph", "reed_cover", "rain_mm"]
SD_NOISE = 0.35
T_PASSES = 24


def simulate(rng, n):
    x = rng.normal(size=(n, len(COLS))).astype(np.float32)
    removal = 1 / (1 + np.exp(-(0.9 * x[:, 2] + 0.7 * x[:, 3] - 0.5 * x[:, 4] + 0.6 * x[:, 6])))
    out = 6.0 + 2.2 * x[:, 0] * (1 - 0.6 * removal) + 0.5 * x[:, 1] - 0.3 * x[:, 7] ** 2
    noise = SD_NOISE * (1 + 0.8 * (x[:, 7] > 1)) * rng.normal(size=n)
    return x, (out + noise).astype(np.float32)


class Outlet(nn.Module):
    def __init__(self, d, w=128, p=0.1):
        super().__init__()
        self.l1 = nn.Linear(d, w)
        self.l2 = nn.Linear(w, w)
        self.l3 = nn.Linear(w, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.l3(h).squeeze(-1)


def mb(v):
    return f"{v / 2**20:.2f}"


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = simulate(rng, 8000)
    xva, yva = simulate(rng, 2000)
    ym, ys = ytr.mean(), ytr.std()
    Xtr, Ytr = mx.array(xtr), mx.array((ytr - ym) / ys)
    Xva = mx.array(xva)
    base = float(np.sqrt(np.mean((yva - ym) ** 2)))
    print(f'<run samples="8000" held_out="2000" mean_guess_rmse="{base:.3f}" noise_sd="{SD_NOISE}" passes="{T_PASSES}"/>')

    mx.random.seed(0)
    model = Outlet(len(COLS))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=optim.exponential_decay(3e-3, 0.9995))

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    step_fn = nn.value_and_grad(model, loss_fn)

    def audit(epoch):
        # Monte-Carlo dropout: keep dropout on, stack T passes over the held-out set
        model.train()
        before = mx.get_active_memory()
        mx.reset_peak_memory()
        stack = mx.stack([model(Xva) for _ in range(T_PASSES)])
        mx.eval(stack)
        built = mx.get_active_memory()
        mean = stack.mean(0) * ys + ym
        spread = stack.std(0) * ys
        mx.eval(mean, spread)
        m, s = np.array(mean), np.array(spread)
        del stack, mean, spread
        mx.clear_cache()
        after = mx.get_active_memory()
        rmse = float(np.sqrt(np.mean((m - yva) ** 2)))
        tot = np.sqrt(s ** 2 + SD_NOISE ** 2)
        cover = float(np.mean(np.abs(m - yva) <= 1.645 * tot)) * 100
        print(f'<audit epoch="{epoch}" rmse="{rmse:.3f}" mean_guess="{base:.3f}" mc_sd="{s.mean():.3f}" '
              f'cover90="{cover:.1f}%" mem_before="{mb(before)}" mem_stack="{mb(built)}" '
              f'mem_peak="{mb(mx.get_peak_memory())}" mem_after="{mb(after)}"/>')

    audit(0)
    t0 = time.time()
    for epoch in range(1, 9):
        model.train()
        perm = mx.array(rng.permutation(8000))
        tot, n = 0.0, 0
        for i in range(0, 8000, 200):
            idx = perm[i:i + 200]
            loss, g = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            n += 1
        if epoch % 2 == 0:
            print(f'<epoch n="{epoch}" train_mse_std="{tot / n:.4f}" lr="{float(opt.learning_rate):.2e}" '
                  f'secs="{time.time() - t0:.1f}"/>')
            audit(epoch)
    print(f'<done secs="{time.time() - t0:.1f}"/>')


if __name__ == "__main__":
    main()
