"""Hot-air balloon flight logs: predict vertical speed (m/s) one step ahead
from burner duty, envelope temperature, ambient temperature and altitude.
GRU sequence model, AdamW, linear warmup from 0 then cosine decay,
mid-run checkpoint and resume."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
T = 32
P_BURN = 0.35
NOISE = 0.15


def make_flights(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    duty = (mx.random.uniform(shape=(n, T), key=k1) < P_BURN).astype(mx.float32)
    ambient = 15.0 + 8.0 * mx.random.normal(shape=(n, 1), key=k2)
    env = [ambient[:, 0] + 60.0]
    alt = [mx.zeros((n,))]
    vs = []
    for t in range(T):
        e = env[-1] + 9.0 * duty[:, t] - 0.12 * (env[-1] - ambient[:, 0])
        lift = 0.06 * (e - ambient[:, 0] - 70.0)
        v = mx.clip(lift - 0.002 * alt[-1], -4.0, 4.0)
        env.append(e)
        alt.append(mx.maximum(alt[-1] + 6.0 * v, 0.0))
        vs.append(v)
    env = mx.stack(env[1:], axis=1)
    alt = mx.stack(alt[1:], axis=1)
    v = mx.stack(vs, axis=1)
    v_obs = v + NOISE * mx.random.normal(shape=v.shape, key=k3)
    feats = mx.stack([
        duty,
        (env - 85.0) / 20.0,
        mx.broadcast_to((ambient - 15.0) / 8.0, (n, T)),
        alt / 300.0,
    ], axis=-1)
    # input at step t sees readings up to t; target is the observed speed at t+1
    return feats[:, :-1], v_obs[:, 1:, None]


class AscentNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(4, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(self.rnn(x))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def make_opt():
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    decay = optim.cosine_decay(3e-3, 360, 5e-5)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [40]),
                       weight_decay=1e-4)


xtr, ytr = make_flights(512, mx.random.key(1))
xva, yva = make_flights(128, mx.random.key(2))
mx.eval(xtr, ytr, xva, yva)

persist = mx.mean((yva[:, 1:] - yva[:, :-1]) ** 2).item()
print(f"flights train={xtr.shape[0]} valid={xva.shape[0]} steps/flight={xtr.shape[1]}")
# the next burner decision is not in the inputs, so it adds to the sensor noise
FLOOR = NOISE**2 + (0.06 * 9.0) ** 2 * P_BURN * (1 - P_BURN)
print(f"irreducible mse~{FLOOR:.4f} (sensor {NOISE**2:.4f} + next burner)   persistence baseline mse={persist:.4f}   "
      f"zero-speed baseline mse={mx.mean(yva**2).item():.4f}")

model = AscentNet()
opt = make_opt()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, mse)
TOTAL, CKPT, BS = 400, 200, 48
tick = time.time()
ckdir = tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(__file__)))


def one_step(model, opt, i):
    idx = mx.random.randint(0, xtr.shape[0], (BS,))
    loss, g = step_fn(model, xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    return loss.item()


for i in range(TOTAL):
    lr_now = opt.learning_rate.item()
    loss = one_step(model, opt, i)
    if i % 40 == 0 or i == TOTAL - 1:
        v = mse(model, xva, yva).item()
        print(f"step {i:4d}  lr {lr_now:.2e}  train_mse {loss:.4f}  valid_mse {v:.4f}  ({time.time()-tick:.1f}s)")
    if i == CKPT - 1:
        before = mse(model, xva, yva).item()
        wpath = os.path.join(ckdir.name, "ascent.safetensors")
        opath = os.path.join(ckdir.name, "ascent_opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint written after step {i}  (valid_mse {before:.4f})")
        del model, opt
        model = AscentNet()
        model.load_weights(wpath)
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        step_fn = nn.value_and_grad(model, mse)
        after = mse(model, xva, yva).item()
        print(f"resumed from checkpoint at step {int(opt.state['step'].item())}  (valid_mse {after:.4f})")

ckdir.cleanup()
final = mse(model, xva, yva).item()
print(f"final valid rmse {final**0.5:.3f} m/s   irreducible {FLOOR**0.5:.3f} m/s   persistence {persist**0.5:.3f} m/s")
