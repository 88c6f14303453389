# Jacquard loom pick-sensor tagging: label every pick of a sensor trace as
# clean / weft float / warp break with a small GRU.  Three noise stages
# (new sensor head each stage -> noisier traces), step counter restarts per stage.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, BATCH = 40, 64
STAGES = [("mill-A", 0.25), ("mill-B", 0.55), ("mill-C", 0.85)]
STEPS_PER_STAGE = 60
rng = np.random.default_rng(11)


def looms(n, noise):
    x = np.zeros((n, T, 3), np.float32)
    y = np.zeros((n, T), np.int32)
    for i in range(n):
        t = 0
        while t < T:
            r = rng.random()
            if r < 0.12 and t < T - 4:          # weft float: feeler dips for 2-4 picks
                L = rng.integers(2, 5)
                x[i, t:t + L, 2] -= 1.0
                y[i, t:t + L] = 1
                t += L
            elif r < 0.17 and t < T - 6:        # warp break: tension spike, then slack until re-tie
                L = rng.integers(3, 7)
                x[i, t, 1] += 2.0
                x[i, t + 1:t + L, 1] -= 0.6
                x[i, t + L - 1, 0] += 1.0       # re-tie marker on shuttle channel
                y[i, t:t + L] = 2
                t += L
            else:
                t += 1
    x[:, :, 0] += np.sin(np.arange(T) * 0.7)[None, :] * 0.3
    x += rng.normal(0, noise, x.shape).astype(np.float32)
    return mx.array(x), mx.array(y)


@mx.custom_function
def softclip(h):
    return 3.0 * mx.tanh(h / 3.0)


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    th = mx.tanh(primals / 3.0)  # single-input custom_function: primals is the array
    return cotangent * (1.0 - th * th)


class PickTagger(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.inp = nn.Linear(3, 16)
        self.gru = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, 3)

    def __call__(self, x):
        h = self.gru(nn.silu(self.inp(x)))
        return self.out(softclip(h * 2.0))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean().item() * 100


mx.random.seed(5)
model = PickTagger()
opt = optim.Adafactor(learning_rate=0.01, relative_step=False, scale_parameter=False)
step_fn = nn.value_and_grad(model, xent)


def flat(tree):
    return mx.concatenate([v.reshape(-1) for _, v in nn.utils.tree_flatten(tree)])


print("stage,step,xent,acc_pct,always_clean_pct")
for stage, (mill, noise) in enumerate(STAGES, start=1):
    vx, vy = looms(256, noise)
    base = (vy == 0).astype(mx.float32).mean().item() * 100
    start = flat(model.parameters())
    for step in range(1, STEPS_PER_STAGE + 1):
        bx, by = looms(BATCH, noise)
        loss, grads = step_fn(model, bx, by)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 20 == 0:
            print(f"{stage},{step},{loss.item():.4f},{accuracy(model, vx, vy):.1f},{base:.1f}")
    gnorm = mx.sqrt((flat(grads) ** 2).sum()).item()
    moved = mx.sqrt(((flat(model.parameters()) - start) ** 2).sum()).item()
    print(f"# audit {mill} noise={noise:.2f} |g|={gnorm:.3e} |dtheta|={moved:.3f} "
          f"val_xent={xent(model, vx, vy).item():.4f}")
