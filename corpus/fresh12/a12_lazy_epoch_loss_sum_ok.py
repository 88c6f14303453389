# Denoising autoencoder trained for a few long epochs on streamed synthetic batches.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)
D_IN, H, BS = 256, 64, 256
EPOCHS, STEPS_PER_EPOCH = 2, 500
BASIS = mx.random.normal((16, D_IN))


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, H)
        self.l2 = nn.Linear(H, H)
        self.l3 = nn.Linear(H, D_IN)

    def __call__(self, x):
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(x)))))


def get_batch():
    clean = mx.random.normal((BS, 16)) @ BASIS
    return clean + 0.5 * mx.random.normal(clean.shape), clean


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = Denoiser()
opt = optim.AdamW(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

for epoch in range(1, EPOCHS + 1):
    t0 = time.time()
    epoch_loss = mx.array(0.0)
    for step in range(1, STEPS_PER_EPOCH + 1):
        x, y = get_batch()
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        epoch_loss = epoch_loss + loss
        if step % 100 == 0:
            print(f"epoch {epoch} [{step}/{STEPS_PER_EPOCH}] {time.time() - t0:.1f}s", flush=True)
    print(f"epoch {epoch} done: mean mse={(epoch_loss / STEPS_PER_EPOCH).item():.5f}", flush=True)
