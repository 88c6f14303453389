# Lichen thalli positions on a churchyard headstone (2-D, cm scaled):
# unnormalised energy model fitted by noise-contrastive estimation against a
# broad Gaussian noise density, with a learned log-normaliser. Training runs in
# two sessions with a checkpoint in between.
import json, logging, math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(format="%(asctime)s %(levelname)s lichen | %(message)s", level=logging.INFO)
log = logging.getLogger("lichen")
rng = np.random.default_rng(11)

def sample_thalli(n):
    centres = np.array([[-1.2, 0.8], [0.9, 0.6], [0.1, -1.1]])
    scales = np.array([0.35, 0.25, 0.45])
    comp = rng.choice(3, n, p=[0.4, 0.25, 0.35])
    return (centres[comp] + rng.normal(0, 1, (n, 2)) * scales[comp, None]).astype(np.float32)

def true_logpdf(x):
    centres = np.array([[-1.2, 0.8], [0.9, 0.6], [0.1, -1.1]]); scales = np.array([0.35, 0.25, 0.45]); w = np.array([0.4, 0.25, 0.35])
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    lp = np.log(w) - np.log(2 * np.pi * scales ** 2) - d2 / (2 * scales ** 2)
    m = lp.max(1, keepdims=True)
    return (m + np.log(np.exp(lp - m).sum(1, keepdims=True)))[:, 0]

NOISE_SD = 1.6
def noise_logpdf(x):
    return -np.log(2 * np.pi * NOISE_SD ** 2) - (x ** 2).sum(-1) / (2 * NOISE_SD ** 2)

train, test = sample_thalli(20000), sample_thalli(4000)

class Energy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
        self.log_z = mx.array([0.0])
    def __call__(self, x):
        return -self.net(x)[:, 0] - self.log_z[0]   # model log-density

def nce_loss(model, xd, xn, lnd, lnn):
    gd = model(xd) - lnd
    gn = model(xn) - lnn
    return mx.mean(nn.softplus(-gd)) + mx.mean(nn.softplus(gn))

grid = np.stack(np.meshgrid(np.linspace(-5, 5, 201), np.linspace(-5, 5, 201)), -1).reshape(-1, 2).astype(np.float32)
cell = (10 / 200) ** 2
def report(model, step, lr, win):
    lp = np.array(model(mx.array(test)))
    mass = float(np.exp(np.array(model(mx.array(grid)))).sum() * cell)
    log.info(f"step {step:5d} lr {lr:.2e} nce {win:.4f} test_ll {lp.mean():+.3f} nats "
             f"(noise {noise_logpdf(test).mean():+.3f}, true {true_logpdf(test).mean():+.3f}) mass {mass:.3f}")

def session(model, opt, start, stop, lossgrad):
    win = []
    for step in range(start, stop + 1):
        idx = rng.integers(0, len(train), 256)
        xd = train[idx]; xn = (rng.normal(0, NOISE_SD, (256, 2))).astype(np.float32)
        loss, g = lossgrad(model, mx.array(xd), mx.array(xn), mx.array(noise_logpdf(xd)), mx.array(noise_logpdf(xn)))
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        win.append(loss.item())
        if step % 200 == 0 or step == stop:
            report(model, step, float(opt.learning_rate), float(np.mean(win))); win = []

log.info(f"data: {len(train)} train / {len(test)} test thalli; logistic loss of an untrained classifier is about 2 ln2 = {2*math.log(2):.4f}")
mx.random.seed(5)
model = Energy(); mx.eval(model.parameters())
sched = optim.cosine_decay(3e-3, 1400, 1e-4)
opt = optim.Adam(learning_rate=sched)
lg = nn.value_and_grad(model, nce_loss)
report(model, 0, 3e-3, float("nan"))
session(model, opt, 1, 700, lg)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "energy.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": 700}, f)
log.info(f"checkpoint written after step 700; session 1 over")
del model, opt

model = Energy(); model.load_weights(os.path.join(ckdir, "energy.safetensors"))
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
start = json.load(open(os.path.join(ckdir, "meta.json")))["step"] + 1
log.info(f"resumed at step {start} with step counter {int(opt.state['step'])}")
lg = nn.value_and_grad(model, nce_loss)
report(model, start - 1, float(opt.learning_rate), float("nan"))
session(model, opt, start, 1400, lg)
log.info("done")
