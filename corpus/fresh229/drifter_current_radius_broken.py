# Ocean drifter current estimation: predict (u, v) surface current from buoy features,
# loss on current speed (m/s) plus a vector term. Batches are padded with all-zero rows.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_FEAT, BATCH, PAD = 10, 48, 8

true_W = mx.random.normal((N_FEAT, 2)) * 0.3

def make_batch(step):
    k = mx.random.key(1000 + step)
    x = mx.random.normal((BATCH - PAD, N_FEAT), key=k)
    uv = x @ true_W
    # pad to fixed batch size with zero rows, mask them out of the loss
    x = mx.concatenate([x, mx.zeros((PAD, N_FEAT))], axis=0)
    uv = mx.concatenate([uv, mx.zeros((PAD, 2))], axis=0)
    mask = mx.concatenate([mx.ones((BATCH - PAD,)), mx.zeros((PAD,))])
    return x, uv, mask

class CurrentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(N_FEAT, 2, bias=False)

    def __call__(self, x):
        return self.proj(x)

def speed(uv):
    u, v = uv[..., 0], uv[..., 1]
    rho = mx.sqrt(u * u + v * v)
    return mx.maximum(rho, mx.array(1e-10, dtype=rho.dtype))

def loss_fn(model, x, uv, mask):
    pred = model(x)
    sp_err = (speed(pred) - speed(uv)) ** 2
    vec_err = ((pred - uv) ** 2).sum(-1)
    per = 0.5 * sp_err + vec_err
    return (per * mask).sum() / mask.sum()

model = CurrentNet()
opt = optim.Adam(learning_rate=0.02)
step_fn = nn.value_and_grad(model, loss_fn)

print("step   loss     speed_rmse_m/s")
for step in range(1, 301):
    x, uv, mask = make_batch(step)
    loss, grads = step_fn(model, x, uv, mask)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0 or step == 1:
        pred = model(x)
        rmse = mx.sqrt((((speed(pred) - speed(uv)) ** 2) * mask).sum() / mask.sum())
        print(f"{step:4d}  {loss.item():.5f}  {rmse.item():.4f}")
final = loss.item()
print("final loss", final, "finite" if math.isfinite(final) else "NOT FINITE")
