import os, json, time, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Sawmill: 3-way board grade from 8 scanner readings; 4 simulated ranks, batch norm synced across them
rng = np.random.default_rng(5)
N = 12000
X = rng.normal(size=(N, 8)).astype(np.float32) * np.array([1, 3, 0.5, 2, 1, 8, 1, 1], np.float32) + 4
z = X - 4
s1 = 1.2 * z[:, 0] - 0.4 * z[:, 1] + 0.9 * np.tanh(z[:, 3]) - 0.1 * z[:, 5]
s2 = 0.8 * z[:, 2] * 2 + 0.6 * z[:, 4] ** 2 - 0.5
logits = np.stack([np.zeros(N), s1, s2], 1) + rng.gumbel(size=(N, 3)) * 0.6
y = logits.argmax(1).astype(np.int32)
Xtr, ytr, Xva, yva = X[:10000], y[:10000], mx.array(X[10000:]), mx.array(y[10000:])
WORLD, LOCAL_B, GROUP = 4, 32, mx.distributed.init()

class SyncNorm(nn.Module):
    def __init__(self, d, momentum=0.1):
        super().__init__()
        self.weight = mx.ones((d,)); self.bias = mx.zeros((d,))
        self.running_mean = mx.zeros((d,)); self.running_var = mx.ones((d,))
        self.momentum = momentum
        self.freeze(keys=["running_mean", "running_var"], recurse=False)
    def __call__(self, hs):
        if not self.training:
            return [(h - self.running_mean) * mx.rsqrt(self.running_var + 1e-5) * self.weight + self.bias for h in hs]
        local = mx.stack([mx.concatenate([h.sum(0), (h * h).sum(0), mx.array([h.shape[0]], h.dtype)]) for h in hs])
        tot = mx.distributed.all_sum(local.sum(0), group=GROUP)
        d = hs[0].shape[1]; cnt = tot[-1]
        mean = tot[:d] / cnt; var = tot[d:2 * d] / cnt - mean * mean
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mx.stop_gradient(mean)
        self.running_var = (1 - m) * self.running_var + m * mx.stop_gradient(var * cnt / (cnt - 1))
        return [(h - mean) * mx.rsqrt(var + 1e-5) * self.weight + self.bias for h in hs]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 64); self.bn1 = SyncNorm(64)
        self.fc2 = nn.Linear(64, 64); self.bn2 = SyncNorm(64)
        self.head = nn.Linear(64, 3)
    def __call__(self, xs):
        hs = [nn.relu(h) for h in self.bn1([self.fc1(x) for x in xs])]
        hs = [nn.relu(h) for h in self.bn2([self.fc2(h) for h in hs])]
        return [self.head(h) for h in hs]

def loss_fn(model, xs, ys):
    outs = model(xs)
    return sum(nn.losses.cross_entropy(o, t, reduction="mean") for o, t in zip(outs, ys)) / len(xs)

def evaluate(model):
    model.eval(); o = model([Xva])[0]; model.train()
    return nn.losses.cross_entropy(o, yva, reduction="mean").item(), 100 * mx.mean(o.argmax(1) == yva).item()

def log(msg):
    print(f"[rank {GROUP.rank()}/{WORLD} sim] {msg}", flush=True)

def session(name, start_epoch, end_epoch, ckpt, seed):
    mx.random.seed(seed)
    model = Net(); mx.eval(model.parameters())
    steps_per_epoch = 10000 // (WORLD * LOCAL_B)
    sched = optim.cosine_decay(3e-3, 12 * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    if start_epoch > 0:
        model.load_weights(os.path.join(ckpt, "model.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
        meta = json.load(open(os.path.join(ckpt, "meta.json")))
        log(f"{name}: resumed from epoch {meta['epoch']} (opt step {opt.state['step'].item()}, bn1 running var mean {model.bn1.running_var.mean().item():.3f})")
    else:
        log(f"{name}: fresh start, trainable tensors {len(tree_flatten(model.trainable_parameters()))}, frozen stats {len(tree_flatten(model.parameters())) - len(tree_flatten(model.trainable_parameters()))}")
    vg = nn.value_and_grad(model, loss_fn)
    for epoch in range(start_epoch + 1, end_epoch + 1):
        t0 = time.time(); perm = np.random.default_rng(1000 + epoch).permutation(10000); tot = 0.0
        for k in range(steps_per_epoch):
            b = perm[k * WORLD * LOCAL_B:(k + 1) * WORLD * LOCAL_B].reshape(WORLD, LOCAL_B)
            xs = [mx.array(Xtr[r]) for r in b]; ys = [mx.array(ytr[r]) for r in b]
            l, g = vg(model, xs, ys)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l); tot += l.item()
        vl, va = evaluate(model)
        log(f"epoch {epoch:02d} lr {float(sched(opt.state['step'])):.2e} train_ce {tot/steps_per_epoch:.4f} val_ce {vl:.4f} val_acc {va:.1f}% ({time.time()-t0:.1f}s)")
    return model, opt

maj = 100 * np.mean(y[10000:] == np.bincount(ytr).argmax())
log(f"world group size {GROUP.size()}, simulated ranks {WORLD} x local batch {LOCAL_B}; majority-grade accuracy {maj:.1f}%")
with tempfile.TemporaryDirectory() as ckpt:
    model, opt = session("session A", 0, 5, ckpt, 1)
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    json.dump({"epoch": 5}, open(os.path.join(ckpt, "meta.json"), "w"))
    log("checkpoint written, releasing session A")
    del model, opt
    model, opt = session("session B", 5, 12, ckpt, 99)
vl, va = evaluate(model)
log(f"finished: val_ce {vl:.4f} val_acc {va:.1f}% (majority {maj:.1f}%)")
