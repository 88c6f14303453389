import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(7)

B, C, F, H, W = 8, 4, 2, 6, 6
NUM_STEPS = 50
TRAIN_STEPS = 120


class FlowScheduler:
    def __init__(self, num_steps, shift=3.0):
        ts = [1.0 - i / num_steps for i in range(num_steps + 1)]
        self.sigmas = [shift * t / (1.0 + (shift - 1.0) * t) for t in ts]
        self.num_steps = num_steps


class TinyDiT(nn.Module):
    def __init__(self, channels, dim=64):
        super().__init__()
        self.proj_in = nn.Linear(channels, dim)
        self.t_embed = nn.Sequential(nn.Linear(16, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = [nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim)) for _ in range(2)]
        self.proj_out = nn.Linear(dim, channels)

    def timestep_features(self, sigma):
        freqs = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
        ang = sigma[:, None] * 1000.0 * freqs[None, :]
        return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)

    def __call__(self, x, sigma):
        b = x.shape[0]
        h = x.transpose(0, 2, 3, 4, 1).reshape(b, -1, x.shape[1])
        h = self.proj_in(h) + self.t_embed(self.timestep_features(sigma))[:, None, :]
        for blk in self.blocks:
            h = h + blk(h)
        out = self.proj_out(h).reshape(b, x.shape[2], x.shape[3], x.shape[4], x.shape[1])
        return out.transpose(0, 4, 1, 2, 3)


class EMA:
    def __init__(self, model, decay=0.99):
        self.decay = decay
        self.shadow = tree_map(lambda p: p * 1.0, model.trainable_parameters())

    def update(self, model):
        d = self.decay
        self.shadow = tree_map(lambda s, p: d * s + (1.0 - d) * p, self.shadow, model.trainable_parameters())


def make_latents(n):
    base = mx.linspace(-1.0, 1.0, H)
    grid = base[None, :, None] * base[None, None, :]
    phase = mx.random.uniform(-1.0, 1.0, (n, C, 1, 1, 1))
    lat = mx.broadcast_to(grid[None, None], (n, C, F, H, W)) * phase
    return lat + 0.05 * mx.random.normal((n, C, F, H, W))


class FlowLoss:
    @staticmethod
    def compute(model, sched, clean):
        b = clean.shape[0]
        timesteps = mx.random.randint(0, sched.num_steps, (b,))
        sigmas_arr = mx.array(sched.sigmas)
        sigmas_t = sigmas_arr[timesteps]
        sig = sigmas_t[:, None, None, None, None]
        noise = mx.random.normal(clean.shape)
        latents_t = (1.0 - sig) * clean + sig * noise
        target = noise - clean
        pred = model(latents_t, sigmas_t)
        return mx.mean((pred - target) ** 2)


def main():
    sched = FlowScheduler(NUM_STEPS)
    model = TinyDiT(C)
    mx.eval(model.parameters())
    ema = EMA(model, decay=0.98)
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
    data = make_latents(256)
    val = make_latents(32)

    def loss_fn(m, x):
        return FlowLoss.compute(m, sched, x)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    running = 0.0
    for step in range(1, TRAIN_STEPS + 1):
        idx = mx.random.randint(0, data.shape[0], (B,))
        loss, grads = loss_and_grad(model, data[idx])
        opt.update(model, grads)
        ema.update(model)
        mx.eval(model.parameters(), opt.state, ema.shadow, loss)
        running += loss.item()
        if step % 20 == 0:
            print(f"step {step:4d} | loss {running / 20:.4f} | lr {opt.learning_rate.item():.1e} | {time.time() - t0:.1f}s")
            running = 0.0
    mx.random.seed(123)
    raw_val = loss_fn(model, val).item()
    live = tree_map(lambda p: p * 1.0, model.trainable_parameters())
    model.update(ema.shadow)
    mx.random.seed(123)
    ema_val = loss_fn(model, val).item()
    model.update(live)
    print(f"val flow loss raw {raw_val:.4f} | ema {ema_val:.4f}")


if __name__ == "__main__":
    main()
