# Denoising MLP with dropout; the held-out check uses Monte-Carlo dropout and must not
# disturb the training random stream, so the PRNG is rewound after each evaluation.
import logging, sys
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
mx.random.seed(1234)
D = 24
W_true = mx.random.normal((D, D)) / D ** 0.5
def batch(n):
    x = mx.random.normal((n, D))
    return x + 0.3 * mx.random.normal((n, D)), x @ W_true
Xv, Yv = batch(512)

model = nn.Sequential(nn.Linear(D, 96), nn.ReLU(), nn.Dropout(0.2), nn.Linear(96, D))
opt = optim.RMSprop(learning_rate=2e-3)
loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
vg = nn.value_and_grad(model, loss_fn)

def mc_eval(n_samples=8):
    hi, lo = mx.random.state[0].tolist()        # snapshot the training stream (key words)
    preds = mx.stack([model(Xv) for _ in range(n_samples)])
    mse = nn.losses.mse_loss(preds.mean(0), Yv).item()
    mx.random.seed((hi << 32) | lo)            # rewind so training randomness is unchanged
    return mse

for step in range(1, 1201):
    x, y = batch(64)
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 150 == 0:
        logging.info("step %4d  train %.4f  mc-val %.4f", step, loss.item(), mc_eval())
