import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_network(n=28):
    pos = rng.uniform(0, 1, (n, 2))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    src, dst, cond = [], [], []
    for i in range(n):
        near = np.argsort(d[i])[1:4]
        if i > 0:
            near = list(near) + [int(np.argmin(d[i, :i]))]
        for j in near:
            c = rng.uniform(0.5, 2.0) / (d[i, j] + 0.05)
            src += [i, j]; dst += [j, i]; cond += [c, c]
    pairs = {}
    for s, t, c in zip(src, dst, cond):
        pairs[(s, t)] = c
    src = np.array([k[0] for k in pairs]); dst = np.array([k[1] for k in pairs])
    cond = np.array(list(pairs.values()))
    L = np.zeros((n, n))
    np.add.at(L, (src, dst), -cond)
    np.add.at(L, (src, src), cond)
    demand = rng.uniform(0.0, 1.0, n) * (rng.uniform(size=n) < 0.7)
    res = int(np.argmin(np.linalg.norm(pos - 0.5, axis=1)))
    demand[res] = 0.0
    keep = [i for i in range(n) if i != res]
    drop = np.zeros(n)
    drop[keep] = np.linalg.solve(L[np.ix_(keep, keep)] + 1e-6 * np.eye(n - 1), demand[keep])
    elev = rng.uniform(0, 0.3, n)
    is_res = np.zeros(n); is_res[res] = 1.0
    deg = np.bincount(src, minlength=n)
    x = np.stack([is_res, demand, elev, deg / 4.0, pos[:, 0], pos[:, 1]], axis=1)
    return x, src, dst, cond, drop


def batch(nets):
    xs, ss, ds, cs, ys, off = [], [], [], [], [], 0
    for x, s, d, c, y in nets:
        xs.append(x); ss.append(s + off); ds.append(d + off); cs.append(c); ys.append(y)
        off += len(x)
    return (mx.array(np.concatenate(xs), dtype=mx.float32), mx.array(np.concatenate(ss)),
            mx.array(np.concatenate(ds)), mx.array(np.concatenate(cs), dtype=mx.float32),
            mx.array(np.concatenate(ys), dtype=mx.float32))


class SageLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.self_lin = nn.Linear(din, dout)
        self.nbr_lin = nn.Linear(din + 1, dout)

    def __call__(self, h, src, dst, cond):
        msg = mx.concatenate([h[src], mx.log(cond)[:, None]], axis=1)
        n = h.shape[0]
        agg = mx.zeros((n, msg.shape[1])).at[dst].add(msg)
        cnt = mx.zeros((n, 1)).at[dst].add(mx.ones((dst.shape[0], 1)))
        return nn.silu(self.self_lin(h) + self.nbr_lin(agg / mx.maximum(cnt, 1.0)))


class MainsNet(nn.Module):
    def __init__(self, hidden=48, rounds=4):
        super().__init__()
        self.inp = nn.Linear(6, hidden)
        self.layers = [SageLayer(hidden, hidden) for _ in range(rounds)]
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, src, dst, cond):
        h = nn.silu(self.inp(x))
        for layer in self.layers:
            h = h + layer(h, src, dst, cond)
        return self.out(h).squeeze(-1)


def loss_fn(model, x, s, d, c, y):
    return nn.losses.mse_loss(model(x, s, d, c), y)


train = [make_network() for _ in range(240)]
val = [make_network() for _ in range(48)]
scale = float(np.std(np.concatenate([t[4] for t in train])))
train = [(x, s, d, c, y / scale) for x, s, d, c, y in train]
val = [(x, s, d, c, y / scale) for x, s, d, c, y in val]
vb = batch(val)
base_mae = float(mx.mean(mx.abs(vb[4] - float(np.mean(np.concatenate([t[4] for t in train]))))))

print("---")
print(f"networks: {{train: {len(train)}, val: {len(val)}, nodes_each: 28}}")
print(f"head_drop_scale: {scale:.4f}")
print(f"baseline_val_mae_constant_drop: {base_mae:.4f}")

WARM, TOTAL, BS = 60, 700, 16


def build():
    model = MainsNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1.0, WARM),
                                  optim.cosine_decay(1.0, TOTAL - WARM, 0.05)], [WARM])
    return model, optim.AdaDelta(learning_rate=sched, rho=0.95)


def evaluate(model):
    pred = model(*vb[:4])
    return float(mx.mean(mx.abs(pred - vb[4])))


model, opt = build()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, loss_fn)
ckdir = tempfile.TemporaryDirectory()
start = time.time()
order = rng.permutation(len(train)); pos = 0
step = 0
resumed = False
while step < TOTAL:
    if pos + BS > len(order):
        order = rng.permutation(len(train)); pos = 0
    xb = batch([train[i] for i in order[pos:pos + BS]]); pos += BS
    loss, grads = step_fn(model, *xb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    if step == 1:
        print(f"first_step: {{lr: {float(opt.learning_rate):.3f}, loss: {float(loss):.4f}}}")
    if step % 100 == 0:
        print("---")
        print(f"step: {step}")
        print(f"lr: {float(opt.learning_rate):.4f}")
        print(f"train_mse: {float(loss):.4f}")
        print(f"val_mae: {evaluate(model):.4f}")
        print(f"baseline_val_mae: {base_mae:.4f}")
        print(f"elapsed_s: {time.time() - start:.1f}")
    if step == 400 and not resumed:
        path = os.path.join(ckdir.name, "mains")
        model.save_weights(path + ".safetensors")
        mx.save_safetensors(path + "_opt.safetensors", dict(tree_flatten(opt.state)))
        before = evaluate(model)
        model, opt = build()
        model.load_weights(path + ".safetensors")
        opt.state = tree_unflatten(list(mx.load(path + "_opt.safetensors").items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        resumed = True
        print("---")
        print(f"resume: {{at_step: {step}, opt_step: {int(opt.state['step'])}, "
              f"val_mae_before: {before:.4f}, val_mae_after: {evaluate(model):.4f}}}")
final = evaluate(model)
print("---")
print(f"done: {{steps: {step}, val_mae: {final:.4f}, baseline_val_mae: {base_mae:.4f}, "
      f"ratio: {final / base_mae:.3f}}}")
ckdir.cleanup()
