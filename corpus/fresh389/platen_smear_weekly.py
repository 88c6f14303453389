import os, time, tempfile, resource
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
NF, NC = 12, 4
CENTRES = rng.normal(0, 1.2, (NC, NF)).astype(np.float32)

def press_week(week, n=6000):
    shift = 0.08 * week
    p = np.array([0.5, 0.25, 0.15, 0.10]) + np.array([-0.03, 0.01, 0.01, 0.01]) * week
    y = rng.choice(NC, size=n, p=p / p.sum())
    x = CENTRES[y] + rng.normal(0, 1.0, (n, NF)).astype(np.float32) + shift
    return x.astype(np.float32), y.astype(np.int32)

class SmearNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NF, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, NC)
    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

model = SmearNet()
opt = optim.Adagrad(learning_rate=0.05)
lg = nn.value_and_grad(model, loss_fn)

xt, yt = press_week(9, 3000)
xt_m, yt_m = mx.array(xt), mx.array(yt)
majority = 100.0 * np.bincount(yt, minlength=NC).max() / len(yt)
store_x = np.zeros((0, NF), np.float32)
store_y = np.zeros((0,), np.int32)
ckdir = tempfile.mkdtemp()
rss_mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(f"press log: {NF} sensors, {NC} smear grades, holdout {len(yt)} sheets, majority grade {majority:.1f}%")
t_all = time.perf_counter()
for week in range(1, 9):
    xw, yw = press_week(week)
    before = store_x.nbytes + store_y.nbytes
    store_x = np.concatenate([store_x, xw]); store_y = np.concatenate([store_y, yw])
    after = store_x.nbytes + store_y.nbytes
    hx, hy = mx.array(store_x), mx.array(store_y)
    n = len(store_y)
    t0 = time.perf_counter(); seen = 0
    for step in range(1, 151):
        idx = mx.array(rng.integers(0, n, 256))
        loss, g = lg(model, hx[idx], hy[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        seen += 256
        if step % 50 == 0:
            dt = time.perf_counter() - t0
            print(f"wk {week} step {step:3d}  loss={loss.item():.3f} nats  rate={seen/dt/1e3:5.1f}k samples/s  {1e3*dt/step:.2f} ms/step")
    acc = 100.0 * (mx.argmax(model(xt_m), axis=1) == yt_m).mean().item()
    path = os.path.join(ckdir, f"week{week}.safetensors")
    model.save_weights(path)
    print(f"wk {week} done  holdout acc={acc:.1f}% (majority {majority:.1f}%)  store={after/2**20:.2f} MB (+{(after-before)/2**20:.2f} MB, {n} sheets)  "
          f"ckpt={os.path.getsize(path)/1024:.1f} KB  maxrss={rss_mb():.0f} MB  week time={time.perf_counter()-t0:.2f} s")

fresh = SmearNet()
fresh.load_weights(os.path.join(ckdir, "week8.safetensors"))
acc2 = 100.0 * (mx.argmax(fresh(xt_m), axis=1) == yt_m).mean().item()
print(f"reloaded week8 checkpoint: holdout acc={acc2:.1f}%  total {time.perf_counter()-t_all:.1f} s")
