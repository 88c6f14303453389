# Denoising MLP on noisy sine features. Training noise is fresh every batch; validation
# noise is rewound to the same PRNG key each epoch so val numbers are comparable.
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("denoise")

mx.random.seed(0)
T = 32
t = mx.linspace(0, 6.28, T)
def clean_batch(n):
    freq = mx.random.uniform(0.5, 2.0, (n, 1))
    phase = mx.random.uniform(0, 6.28, (n, 1))
    return mx.sin(freq * t + phase)

VAL_CLEAN = clean_batch(256)
mx.eval(VAL_CLEAN)
VAL_KEY = mx.random.state[0]          # snapshot of the PRNG key for validation noise


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(T, 64), nn.ReLU(), nn.Linear(64, T))

    def __call__(self, x):
        return x + self.net(x)


def loss_fn(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean)


def evaluate(model):
    saved = mx.random.state[0]
    mx.random.state[0] = VAL_KEY       # rewind so every epoch sees the same val noise
    noisy = VAL_CLEAN + 0.3 * mx.random.normal(VAL_CLEAN.shape)
    err = loss_fn(model, noisy, VAL_CLEAN).item()
    mx.random.state[0] = saved
    return err


model = Denoiser()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 11):
    tot = 0.0
    for b in range(40):
        clean = clean_batch(64)
        noisy = clean + 0.3 * mx.random.normal(clean.shape)
        loss, grads = step(model, noisy, clean)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    log.info("epoch %d train_mse=%.5f val_mse=%.5f", epoch, tot / 40, evaluate(model))
