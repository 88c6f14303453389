import os, tempfile, time, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
CLASSES = ["queenright", "queenless", "pre-swarm"]
N_FEAT = 10


def make_hives(n, shift=0.0):
    y = rng.integers(0, 3, n)
    base = rng.normal(0, 1, (n, N_FEAT))
    centres = np.array([[0.0] * N_FEAT,
                        [1.2, -0.8, 0.6, 0, 0, 0.9, 0, -0.5, 0, 0],
                        [-0.9, 1.1, 0, 0.7, -0.6, 0, 0.8, 0, 0, 0.4]])
    x = base + centres[y] + shift
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make_hives(6000)
xva, yva = make_hives(1500)
xood, _ = make_hives(1500, shift=4.0)   # recordings from a different microphone rig


class HumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96)
        self.d1 = nn.Dropout(0.2)
        self.l2 = nn.Linear(96, 96)
        self.d2 = nn.Dropout(0.2)
        self.out = nn.Linear(96, 3)

    def __call__(self, x):
        x = self.d1(nn.gelu(self.l1(x)))
        x = self.d2(nn.gelu(self.l2(x)))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.05, reduction="mean")


def mc_predict(model, x, passes=30):
    model.train()
    probs = mx.stack([mx.softmax(model(x), axis=-1) for _ in range(passes)])
    model.eval()
    return probs.mean(axis=0)


def entropy(p):
    return float(mx.mean(-mx.sum(p * mx.log(p + 1e-9), axis=-1)).item())


TOTAL = 1800
warm = optim.linear_schedule(0.0, 3e-3, 200)
cos = optim.cosine_decay(3e-3, TOTAL - 200, 1e-4)
schedule = optim.join_schedules([warm, cos], [200])


def build():
    m = HumNet()
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-3)
    return m, o


def run(model, opt, start, stop, xs, ys):
    step_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, len(xs), 128))
        model.train()
        loss, grads = step_fn(model, mx.array(xs)[idx], mx.array(ys)[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 300 == 0:
            pv = mc_predict(model, mx.array(xva))
            po = mc_predict(model, mx.array(xood))
            acc = float(mx.mean(mx.argmax(pv, axis=-1) == mx.array(yva)).item())
            print("---")
            print(f"step: {step + 1}")
            print(f"lr: {float(opt.learning_rate.item()):.5f}")
            print(f"train_xent_window: {np.mean(window):.4f}")
            print(f"mc_val_acc: {acc:.4f}")
            print(f"entropy_in_dist: {entropy(pv):.4f}")
            print(f"entropy_other_rig: {entropy(po):.4f}")
            window = []


t0 = time.time()
model, opt = build()
mx.eval(model.parameters())
print("---")
print(f"classes: {CLASSES}")
print(f"train: {len(xtr)}  valid: {len(xva)}  other_rig: {len(xood)}")
print(f"majority_baseline_acc: {np.mean(yva == np.bincount(ytr).argmax()):.4f}")
print(f"uniform_entropy: {np.log(3):.4f}")
run(model, opt, 0, 900, xtr, ytr)

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "hum.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": 900}, f)
    del model, opt
    print("---")
    print("event: apiary generator off, resuming from disk")
    model, opt = build()
    model.load_weights(os.path.join(d, "hum.safetensors"))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    start = json.load(open(os.path.join(d, "meta.json")))["step"]
run(model, opt, start, TOTAL, xtr, ytr)
print("---")
print(f"done: true\nseconds: {time.time() - t0:.1f}")
