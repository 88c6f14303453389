# Sparse autoencoder recovering a superposed dictionary (32 sparse features
# packed into 16 dims). Decoder atoms are kept at unit norm after every step.
# Progress is printed as S-expressions.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
N_FEAT, D, N_LAT = 32, 16, 48
P_ACTIVE = 0.06          # each feature fires ~6% of the time
L1 = 0.3
STEPS, BATCH = 2400, 256

true_dict = mx.random.normal((N_FEAT, D))
true_dict = true_dict / mx.linalg.norm(true_dict, axis=1, keepdims=True)


def sample_batch(n):
    on = (mx.random.uniform(shape=(n, N_FEAT)) < P_ACTIVE).astype(mx.float32)
    mag = mx.random.uniform(0.5, 1.5, shape=(n, N_FEAT))
    return (on * mag) @ true_dict


class SAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, N_LAT)
        self.dec_w = mx.random.normal((N_LAT, D)) * 0.1
        self.dec_b = mx.zeros((D,))

    def __call__(self, x):
        a = nn.relu(self.enc(x - self.dec_b))
        return a, a @ self.dec_w + self.dec_b


def objective(model, x):
    a, xh = model(x)
    mse = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    l1 = mx.mean(mx.sum(mx.abs(a) * mx.linalg.norm(model.dec_w, axis=1), axis=1))
    return mse + L1 * l1, (mse, a)


def renorm(model):
    model.dec_w = model.dec_w / mx.maximum(mx.linalg.norm(model.dec_w, axis=1, keepdims=True), 1e-6)


model = SAE()
renorm(model)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, objective)

x_val = sample_batch(4096)
fire_count = mx.zeros((N_LAT,))
t0 = time.time()
for step in range(1, STEPS + 1):
    x = sample_batch(BATCH)
    (loss, (mse, a)), g = vg(model, x)
    opt.update(model, g)
    renorm(model)
    fire_count = fire_count + mx.sum(a > 0, axis=0)
    mx.eval(model.parameters(), opt.state, loss, fire_count)
    if step % 200 == 0:
        a_v, xh_v = model(x_val)
        val_mse = mx.mean(mx.sum((xh_v - x_val) ** 2, axis=1)).item()
        fvu = val_mse / mx.mean(mx.sum((x_val - x_val.mean(0)) ** 2, axis=1)).item()
        l0 = mx.mean(mx.sum(a_v > 0, axis=1)).item()
        dead = mx.mean((fire_count == 0).astype(mx.float32)).item()
        cos = true_dict @ model.dec_w.T                   # [N_FEAT, N_LAT]
        recov = mx.mean(mx.max(cos, axis=1)).item()
        n_hit = mx.sum(mx.max(cos, axis=1) > 0.9).item()
        print(f"(step {step} :loss {loss.item():.5f} :val-fvu {fvu:.4f} :l0 {l0:.2f} "
              f":dead-frac {dead:.3f} :mean-max-cos {recov:.3f} :atoms>0.9 {int(n_hit)}/{N_FEAT} "
              f":t {time.time() - t0:.1f})", flush=True)
        fire_count = mx.zeros((N_LAT,))
print("(done)")
