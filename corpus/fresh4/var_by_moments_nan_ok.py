"""Weather-station regression: predict next-hour rainfall from raw sensor readings.

The model standardizes each batch itself (no preprocessing step), RMSprop, dict-style prints.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(17)
N = 4096
pressure = 1013.0 + 0.4 * mx.random.normal((N, 1))    # hPa
temp_k = 293.0 + 2.0 * mx.random.normal((N, 1))       # Kelvin
humidity = mx.clip(0.6 + 0.15 * mx.random.normal((N, 1)), 0.0, 1.0)
X = mx.concatenate([pressure, temp_k, humidity], axis=1)
noise = 0.05 * mx.random.normal((N, 1))
rain = nn.relu(3.0 * (humidity - 0.55) - 2.0 * (pressure - 1013.0)) + noise


class RainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 32)
        self.l2 = nn.Linear(32, 1)

    def standardize(self, x):
        mean = mx.mean(x, axis=0, keepdims=True)
        var = mx.mean((x - mean) ** 2, axis=0, keepdims=True)
        return (x - mean) / mx.sqrt(var + 1e-5)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(self.standardize(x))))


model = RainNet()
opt = optim.RMSprop(learning_rate=1e-3)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
step = 0
for epoch in range(4):
    perm = mx.random.permutation(N)
    for i in range(0, N, 128):
        idx = perm[i:i + 128]
        loss, g = vg(model, X[idx], rain[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % 4 == 0:
            print({"epoch": epoch, "step": step, "mse": round(loss.item(), 5)})
