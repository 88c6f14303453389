"""House-price regression on raw tabular features, model and data in half precision."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

DTYPE = mx.bfloat16
mx.random.seed(12)
rng = np.random.default_rng(12)
N = 6000
sqft = rng.uniform(400, 4500, N)
income = rng.lognormal(11.2, 0.5, N)
age = rng.uniform(0, 90, N)
rooms = rng.integers(1, 8, N)
feats = np.stack([sqft, income, age, rooms], 1).astype(np.float32)
price = (0.6 * sqft / 1000 + 0.8 * np.log(income / 50000) - 0.01 * age + 0.1 * rooms)
price = price.astype(np.float32)[:, None]

model = nn.Sequential(nn.BatchNorm(4), nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))
model.set_dtype(DTYPE)
opt = optim.AdamW(learning_rate=3e-3)
X, Y = mx.array(feats).astype(DTYPE), mx.array(price).astype(DTYPE)
step = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x).astype(mx.float32),
                                                                   y.astype(mx.float32)))
for epoch in range(1, 21):
    perm = mx.array(rng.permutation(N))
    for i in range(0, N, 200):
        idx = perm[i:i + 200]
        loss, grads = step(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
    print(f"epoch {epoch:02d}/20 - mse: {loss.item():.4f}")
