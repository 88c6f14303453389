# Saggar firing: predict glaze gloss units from firing features with a small
# Trainer/callback/accumulator toolkit, checkpoint mid-run, resume in a new trainer.
import os, tempfile, time, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)

def make_firings(n):
    peak = rng.uniform(-1, 1, n); soak = rng.uniform(-1, 1, n); cool = rng.uniform(-1, 1, n)
    silica = rng.uniform(-1, 1, n); flux = rng.uniform(-1, 1, n); thick = rng.uniform(-1, 1, n)
    gloss = (60 + 12 * np.tanh(1.5 * peak + 0.8 * flux) - 6 * silica * cool
             + 4 * np.sin(2.0 * soak) - 5 * thick ** 2 + rng.normal(0, 1.5, n))
    x = np.stack([peak, soak, cool, silica, flux, thick], 1).astype(np.float32)
    return x, gloss.astype(np.float32)

xtr, ytr = make_firings(6000)
xva, yva = make_firings(1500)
y_mean, y_sd = float(ytr.mean()), float(ytr.std())

class GlossNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 1)
    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)

class MeanAccumulator:
    def __init__(self):
        self.reset()
    def reset(self):
        self.total = mx.array(0.0); self.count = 0
    def add(self, value, n):
        self.total = self.total + value * n; self.count += n
        mx.eval(self.total)
    def value(self):
        return (self.total / max(self.count, 1)).item()

class Callback:
    def on_epoch_end(self, trainer, epoch, logs): pass
    def on_train_end(self, trainer): pass

class YamlReporter(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        print("---")
        print(f"phase: {trainer.phase}")
        for k, v in logs.items():
            print(f"{k}: {v:.5g}" if isinstance(v, float) else f"{k}: {v}")

class Checkpointer(Callback):
    def __init__(self, path, at_epoch):
        self.path, self.at_epoch = path, at_epoch
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at_epoch:
            trainer.model.save_weights(os.path.join(self.path, "weights.safetensors"))
            mx.save_safetensors(os.path.join(self.path, "opt.safetensors"),
                                dict(tree_flatten(trainer.opt.state)))
            with open(os.path.join(self.path, "meta.json"), "w") as f:
                json.dump({"epoch": epoch}, f)
            print("---\nevent: checkpoint_written\nepoch:", epoch)
            trainer.stop = True

class Trainer:
    def __init__(self, model, opt, callbacks, phase, batch=100):
        self.model, self.opt, self.callbacks, self.phase, self.batch = model, opt, callbacks, phase, batch
        self.stop = False
        def loss_fn(m, x, y):
            return nn.losses.mse_loss(m(x), (y - y_mean) / y_sd)
        self.step_fn = nn.value_and_grad(model, loss_fn)
    def evaluate(self):
        pred = self.model(mx.array(xva)) * y_sd + y_mean
        err = pred - mx.array(yva)
        return mx.sqrt(mx.mean(err * err)).item(), mx.mean(mx.abs(err)).item()
    def fit(self, first_epoch, last_epoch):
        acc = MeanAccumulator()
        for epoch in range(first_epoch, last_epoch + 1):
            t0 = time.time(); acc.reset()
            lr_start = self.opt.learning_rate.item()
            perm = rng.permutation(len(xtr))
            for i in range(0, len(xtr), self.batch):
                idx = mx.array(perm[i:i + self.batch])
                xb, yb = mx.array(xtr)[idx], mx.array(ytr)[idx]
                loss, grads = self.step_fn(self.model, xb, yb)
                self.opt.update(self.model, grads)
                mx.eval(self.model.parameters(), self.opt.state, loss)
                acc.add(loss, xb.shape[0])
            rmse, mae = self.evaluate()
            logs = {"epoch": epoch, "lr_at_epoch_start": lr_start, "train_mse_std_units": acc.value(),
                    "val_rmse_gloss": rmse, "val_mae_gloss": mae, "secs": time.time() - t0}
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, logs)
            if self.stop:
                break
        for cb in self.callbacks:
            cb.on_train_end(self)

def make_opt():
    steps_per_epoch = len(xtr) // 100
    warm = optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch)
    decay = optim.cosine_decay(3e-3, 14 * steps_per_epoch, 5e-5)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [2 * steps_per_epoch]))

base_rmse = float(np.sqrt(np.mean((yva - y_mean) ** 2)))
print("---\nevent: setup\ntrain_rows:", len(xtr), "\nval_rows:", len(xva))
print(f"baseline_mean_predictor_val_rmse: {base_rmse:.4f}\nnoise_sd_floor: 1.5")

mx.random.seed(3)
ckpt_dir = tempfile.mkdtemp()
model = GlossNet(); opt = make_opt()
t1 = Trainer(model, opt, [YamlReporter(), Checkpointer(ckpt_dir, 7)], phase="first_sitting")
t1.fit(1, 16)
del t1, model, opt

mx.random.seed(99)
model2 = GlossNet(); opt2 = make_opt()
model2.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt2.init(model2.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
start = json.load(open(os.path.join(ckpt_dir, "meta.json")))["epoch"] + 1
t2 = Trainer(model2, opt2, [YamlReporter()], phase="resumed")
rmse, mae = t2.evaluate()
print(f"---\nevent: resumed\nfrom_epoch: {start}\nrestored_val_rmse_gloss: {rmse:.5g}\noptimizer_step: {opt2.step.item()}")
t2.fit(start, 16)
rmse, mae = t2.evaluate()
print(f"---\nevent: done\nfinal_val_rmse_gloss: {rmse:.4f}\nbaseline_val_rmse: {base_rmse:.4f}\nratio_to_baseline: {rmse / base_rmse:.4f}")
