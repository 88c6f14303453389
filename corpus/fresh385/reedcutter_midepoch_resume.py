"""Reed-bundle quality for a thatcher's yard, trained by a callback-driven loop
that can be stopped with Ctrl-C and picked up again from its last checkpoint,
in the middle of an epoch, with the same result as a run that never stopped.
"""
import json
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 31
EPOCHS, BATCH = 8, 50


def make_bundles(n, rng):
    diam = rng.normal(5.0, 1.0, n)        # stem diameter mm
    length = rng.normal(1.7, 0.25, n)     # m
    moist = rng.normal(16.0, 4.0, n)      # %
    week = rng.integers(0, 12, n)         # harvest week after frost
    straight = rng.uniform(0, 1, n)       # straightness index
    leaf = rng.uniform(0, 0.4, n)         # leaf fraction
    salt = rng.integers(0, 2, n)          # tidal bed
    q = (60 - 4.0 * (diam - 5.0) ** 2 + 12 * (length - 1.7) - 0.08 * (moist - 14) ** 2
         + 6 * np.sin(week / 3.0) + 10 * straight - 25 * leaf + 3 * salt * straight)
    q = q + rng.normal(0, 1.5, n)
    x = np.stack([diam, length, moist, week, straight, leaf, salt], 1).astype(np.float32)
    return x, q.astype(np.float32)


class ReedNet(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mx.array(mean), mx.array(std)
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(64, 1)
        self.freeze(keys=["mean", "std"], recurse=False)

    def __call__(self, x):
        h = (x - self.mean) / self.std
        h = self.drop(nn.silu(self.l1(h)))
        h = self.drop(nn.silu(self.l2(h)))
        return 60.0 + 10.0 * self.out(h).squeeze(-1)


class Callback:
    def state_dict(self): return {}
    def load_state_dict(self, d): pass
    def on_step_end(self, tr): pass
    def on_epoch_end(self, tr, val): pass


class EMAWeights(Callback):
    def __init__(self, decay):
        self.decay, self.shadow = decay, None

    def on_step_end(self, tr):
        p = tr.model.trainable_parameters()
        if self.shadow is None:
            self.shadow = tree_map(lambda a: mx.array(a), p)
        else:
            d = self.decay
            self.shadow = tree_map(lambda s, a: d * s + (1 - d) * a, self.shadow, p)
        mx.eval(self.shadow)

    def state_dict(self):
        return {"tensors": dict(tree_flatten(self.shadow))}

    def load_state_dict(self, d):
        self.shadow = tree_unflatten(list(d["tensors"].items()))


class EarlyStopping(Callback):
    def __init__(self, patience):
        self.patience, self.best, self.wait = patience, float("inf"), 0

    def on_epoch_end(self, tr, val):
        if val["ema_mae"] < self.best - 1e-4:
            self.best, self.wait = val["ema_mae"], 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                tr.should_stop = True

    def state_dict(self):
        return {"meta": {"best": self.best, "wait": self.wait}}

    def load_state_dict(self, d):
        self.best, self.wait = d["meta"]["best"], d["meta"]["wait"]


class PeriodicCheckpoint(Callback):
    def __init__(self, dirpath, every):
        self.dirpath, self.every = dirpath, every

    def on_step_end(self, tr):
        if tr.global_step % self.every == 0:
            tr.save(os.path.join(self.dirpath, f"step-{tr.global_step:05d}"))


class CtrlC(Callback):
    """Stands in for the user pressing Ctrl-C at a given step."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, tr):
        if tr.global_step == self.at_step:
            raise KeyboardInterrupt


class Trainer:
    def __init__(self, model, data, callbacks, log=True):
        self.model, self.callbacks, self.log = model, callbacks, log
        self.xtr, self.ytr, self.xva, self.yva = data
        self.steps_per_epoch = self.xtr.shape[0] // BATCH
        total = EPOCHS * self.steps_per_epoch
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, total - 60, 5e-5)], [60])
        self.opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
        self.opt.init(model.trainable_parameters())
        self.sched = sched
        self.global_step, self.epoch, self.batch = 0, 0, 0
        self.should_stop = False
        self.lg = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())

    def named_callbacks(self):
        return {type(cb).__name__: cb for cb in self.callbacks}

    def save(self, path):
        os.makedirs(path, exist_ok=True)
        self.model.save_weights(os.path.join(path, "model.safetensors"))
        mx.save_safetensors(os.path.join(path, "optimizer.safetensors"), dict(tree_flatten(self.opt.state)))
        meta = {"global_step": self.global_step, "epoch": self.epoch, "batch": self.batch, "callbacks": {}}
        for name, cb in self.named_callbacks().items():
            sd = cb.state_dict()
            if "tensors" in sd:
                mx.save_safetensors(os.path.join(path, f"{name}.safetensors"), sd["tensors"])
            meta["callbacks"][name] = sd.get("meta")
        with open(os.path.join(path, "trainer.json"), "w") as f:
            json.dump(meta, f)

    def restore(self, path):
        self.model.load_weights(os.path.join(path, "model.safetensors"))
        self.opt.state = tree_unflatten(list(mx.load(os.path.join(path, "optimizer.safetensors")).items()))
        with open(os.path.join(path, "trainer.json")) as f:
            meta = json.load(f)
        self.global_step, self.epoch, self.batch = meta["global_step"], meta["epoch"], meta["batch"]
        for name, cb in self.named_callbacks().items():
            d = {"meta": meta["callbacks"].get(name)}
            tpath = os.path.join(path, f"{name}.safetensors")
            if os.path.exists(tpath):
                d["tensors"] = mx.load(tpath)
            cb.load_state_dict(d)
        mx.eval(self.model.parameters(), self.opt.state)

    def evaluate(self):
        self.model.eval()
        mae = float(mx.abs(self.model(self.xva) - self.yva).mean())
        live = self.model.trainable_parameters()
        ema = self.named_callbacks().get("EMAWeights")
        self.model.update(ema.shadow)
        ema_mae = float(mx.abs(self.model(self.xva) - self.yva).mean())
        self.model.update(live)
        self.model.train()
        return {"mae": mae, "ema_mae": ema_mae}

    def fit(self):
        self.model.train()
        while self.epoch < EPOCHS and not self.should_stop:
            perm = np.random.default_rng(SEED * 1000 + self.epoch).permutation(self.xtr.shape[0])
            while self.batch < self.steps_per_epoch:
                b = self.batch
                idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
                mx.random.seed(SEED * 100003 + self.global_step)  # dropout masks tied to the step
                loss, g = self.lg(self.model, self.xtr[idx], self.ytr[idx])
                self.opt.update(self.model, g)
                mx.eval(self.model.parameters(), self.opt.state, loss)
                self.global_step += 1
                self.batch += 1
                if self.log and self.global_step % 20 == 0:
                    lr = float(self.sched(mx.array(self.global_step - 1)))
                    print(f"  step {self.global_step:4d}  epoch {self.epoch} batch {self.batch:2d}/{self.steps_per_epoch}"
                          f"  mse {float(loss):8.3f}  lr {lr:.2e}")
                for cb in self.callbacks:
                    cb.on_step_end(self)
            val = self.evaluate()
            if self.log:
                print(f"epoch {self.epoch} done at step {self.global_step}: val MAE {val['mae']:.3f}"
                      f"  EMA val MAE {val['ema_mae']:.3f}")
            for cb in self.callbacks:
                cb.on_epoch_end(self, val)
            self.epoch += 1
            self.batch = 0
        return self.evaluate()


def build(data, init_seed, callbacks, log):
    mx.random.seed(init_seed)
    model = ReedNet(data[4], data[5])
    mx.eval(model.parameters())
    return Trainer(model, data[:4], callbacks, log)


def main():
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_bundles(4000, rng)
    xva, yva = make_bundles(800, rng)
    data = (mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva), xtr.mean(0), xtr.std(0))
    base = float(np.abs(yva - ytr.mean()).mean())
    print(f"reed bundles: 4000 train / 800 val; predict-the-mean val MAE {base:.3f}; grader noise sd 1.5 (MAE floor ~1.2)")

    print("== reference run (no interruption, quiet) ==")
    ref = build(data, 1, [EMAWeights(0.98), EarlyStopping(4)], log=False)
    ref_val = ref.fit()
    print(f"reference finished at step {ref.global_step}: val MAE {ref_val['mae']:.4f}  EMA {ref_val['ema_mae']:.4f}")

    with tempfile.TemporaryDirectory() as d:
        print("== first sitting ==")
        tr = build(data, 1, [EMAWeights(0.98), EarlyStopping(4), PeriodicCheckpoint(d, 50), CtrlC(233)], log=True)
        try:
            tr.fit()
        except KeyboardInterrupt:
            print(f"^C  KeyboardInterrupt at step {tr.global_step} (epoch {tr.epoch}, batch {tr.batch}); "
                  f"checkpoints on disk: {sorted(os.listdir(d))}")

        print("== second sitting (new process state, different init seed, resumed) ==")
        last = os.path.join(d, sorted(os.listdir(d))[-1])
        tr2 = build(data, 999, [EMAWeights(0.98), EarlyStopping(4), PeriodicCheckpoint(d, 50)], log=True)
        tr2.restore(last)
        print(f"restored {os.path.basename(last)}: global_step {tr2.global_step}, epoch {tr2.epoch}, batch {tr2.batch}, "
              f"optimizer step {int(tr2.opt.state['step'])}; steps {tr2.global_step + 1}-{tr.global_step} will run again")
        val = tr2.fit()

    diff = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
               zip(tree_flatten(tr2.model.parameters()), tree_flatten(ref.model.parameters())))
    print(f"resumed finished at step {tr2.global_step}: val MAE {val['mae']:.4f}  EMA {val['ema_mae']:.4f}")
    print(f"max |resumed - reference| over all weights = {diff:.3e}; predict-the-mean MAE {base:.3f}")


if __name__ == "__main__":
    main()
