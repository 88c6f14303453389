"""Bell foundry: sort freshly cast bells into tuning classes from casting records.

Classes: 0 true strike, 1 flat, 2 sharp, 3 flawed casting.
The job runs on a shared bench machine that may warn it with SIGUSR1 before
taking it back; on that warning the trainer finishes its step, writes a full
checkpoint (weights incl. batch-norm statistics, optimizer moments, plateau
scheduler, epoch, position inside the epoch, shuffle order, numpy RNG) and
leaves.  The driver waits for the requeue and starts a fresh trainer from the
files, which picks up at the very next batch.
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["tin_pct", "pour_temp_c", "mould_moisture", "cool_hours",
            "lip_mm", "waist_mm", "diameter_cm", "lead_ppm"]
CLASSES = ["true", "flat", "sharp", "flawed"]
EPOCHS = 14
BATCH = 64
WARN_AT_STEP = 530


def make_castings(n, rng):
    tin = rng.normal(22.0, 1.6, n)
    pour = rng.normal(1120.0, 35.0, n)
    moist = rng.gamma(2.0, 1.5, n)
    cool = rng.uniform(20, 96, n)
    lip = rng.normal(70.0, 6.0, n)
    waist = lip * rng.normal(0.34, 0.03, n)
    diam = rng.uniform(40, 160, n)
    lead = rng.lognormal(4.0, 0.6, n)
    x = np.stack([tin, pour, moist, cool, lip, waist, diam, lead], 1)
    # made-up partial-tuning law: thin waists go flat, thick ones sharp
    cents = (55 * (waist / lip - 0.34) / 0.03 + 9 * (tin - 22) / 1.6
             - 6 * np.tanh((pour - 1120) / 40) + rng.normal(0, 14, n))
    flaw_logit = (0.9 * (moist - 3) + 1.4 * (cool < 30) + 0.004 * (lead - 60)
                  - 2.4 + rng.normal(0, 0.7, n))
    y = np.where(cents < -25, 1, np.where(cents > 25, 2, 0))
    y = np.where(flaw_logit > 0, 3, y)
    return x.astype(np.float32), y.astype(np.int32)


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.bn1 = nn.BatchNorm(96)
        self.l2 = nn.Linear(96, 96)
        self.bn2 = nn.BatchNorm(96)
        self.out = nn.Linear(96, 4)

    def __call__(self, x):
        h = nn.relu(self.bn1(self.l1(x)))
        h = nn.relu(self.bn2(self.l2(h)))
        return self.out(h)


class Plateau:
    """Cut the lr when validation loss stops improving."""

    def __init__(self, lr, factor=0.3, patience=2, min_delta=1e-3):
        self.lr, self.factor, self.patience, self.min_delta = lr, factor, patience, min_delta
        self.best, self.bad = float("inf"), 0

    def observe(self, val_loss):
        if val_loss < self.best - self.min_delta:
            self.best, self.bad = val_loss, 0
            return False
        self.bad += 1
        if self.bad > self.patience:
            self.lr *= self.factor
            self.bad = 0
            return True
        return False

    def state(self):
        return {"lr": self.lr, "best": self.best, "bad": self.bad}

    def load(self, s):
        self.lr, self.best, self.bad = s["lr"], s["best"], s["bad"]


def block(**fields):
    for k, v in fields.items():
        print(f"{k.replace('_', '-').title()}: {v}")
    print(flush=True)


class BenchReclaimed(Exception):
    pass


class Trainer:
    def __init__(self, data, ckdir, seed):
        self.xtr, self.ytr, self.xva, self.yva = data
        self.ckdir = ckdir
        mx.random.seed(seed)
        self.model = Sorter()
        self.sched = Plateau(0.05)
        self.opt = optim.SGD(learning_rate=self.sched.lr, momentum=0.9, weight_decay=5e-4)
        self.opt.init(self.model.trainable_parameters())
        mx.eval(self.model.parameters(), self.opt.state)
        self.epoch, self.pos, self.step = 0, 0, 0
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.ytr))
        self.warned = False
        self.vg = nn.value_and_grad(self.model, self.loss)

    def loss(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def on_warning(self, signum, frame):
        self.warned = True

    def evaluate(self):
        self.model.eval()
        logits = self.model(mx.array(self.xva))
        y = mx.array(self.yva)
        vloss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
        pred = np.array(mx.argmax(logits, axis=1))
        self.model.train()
        acc = float((pred == self.yva).mean())
        f1s = []
        for c in range(4):
            tp = np.sum((pred == c) & (self.yva == c))
            fp = np.sum((pred == c) & (self.yva != c))
            fn = np.sum((pred != c) & (self.yva == c))
            f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
        return vloss, acc, float(np.mean(f1s))

    def save(self):
        self.model.save_weights(os.path.join(self.ckdir, "sorter.safetensors"))
        mx.save_safetensors(os.path.join(self.ckdir, "sgd.safetensors"),
                            dict(tree_flatten(self.opt.state)))
        np.save(os.path.join(self.ckdir, "order.npy"), self.order)
        meta = {"epoch": self.epoch, "pos": self.pos, "step": self.step,
                "plateau": self.sched.state(),
                "rng": self.rng.bit_generator.state}
        with open(os.path.join(self.ckdir, "meta.json"), "w") as f:
            json.dump(meta, f)

    def restore(self):
        self.model.load_weights(os.path.join(self.ckdir, "sorter.safetensors"))
        self.opt.state = tree_unflatten(list(mx.load(os.path.join(self.ckdir, "sgd.safetensors")).items()))
        self.order = np.load(os.path.join(self.ckdir, "order.npy"))
        with open(os.path.join(self.ckdir, "meta.json")) as f:
            meta = json.load(f)
        self.epoch, self.pos, self.step = meta["epoch"], meta["pos"], meta["step"]
        self.sched.load(meta["plateau"])
        self.opt.learning_rate = self.sched.lr
        self.rng.bit_generator.state = meta["rng"]
        mx.eval(self.model.parameters(), self.opt.state)

    def run(self):
        steps_per_epoch = len(self.ytr) // BATCH
        while self.epoch < EPOCHS:
            losses = []
            while self.pos < steps_per_epoch:
                idx = self.order[self.pos * BATCH:(self.pos + 1) * BATCH]
                x, y = mx.array(self.xtr[idx]), mx.array(self.ytr[idx])
                loss, grads = self.vg(self.model, x, y)
                self.opt.update(self.model, grads)
                mx.eval(self.model.parameters(), self.opt.state, loss)
                losses.append(loss.item())
                self.pos += 1
                self.step += 1
                if self.step == WARN_AT_STEP:
                    os.kill(os.getpid(), signal.SIGUSR1)
                if self.warned:
                    self.save()
                    vnow = self.evaluate()[0]
                    block(Event="bench-warning", Step=self.step, Epoch=self.epoch + 1,
                          Batch_In_Epoch=f"{self.pos}/{steps_per_epoch}",
                          Checkpoint=os.path.basename(self.ckdir),
                          Partial_Epoch_Train_Ce=f"{np.mean(losses):.4f}",
                          Val_Ce_At_Save=f"{vnow:.6f}")
                    raise BenchReclaimed()
            vloss, acc, f1 = self.evaluate()
            cut = self.sched.observe(vloss)
            self.opt.learning_rate = self.sched.lr
            block(Event="epoch", Epoch=f"{self.epoch + 1}/{EPOCHS}", Step=self.step,
                  Train_Ce=f"{np.mean(losses):.4f}" if losses else "n/a",
                  Val_Ce=f"{vloss:.4f}", Val_Accuracy=f"{100 * acc:.1f}%",
                  Val_Macro_F1=f"{f1:.3f}", Lr=f"{self.sched.lr:.4g}" + (" (cut)" if cut else ""))
            self.epoch += 1
            self.pos = 0
            self.order = self.rng.permutation(len(self.ytr))
        return self.evaluate()


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    x, y = make_castings(6000, rng)
    mu, sd = x[:4800].mean(0), x[:4800].std(0)
    x = (x - mu) / sd
    data = (x[:4800], y[:4800], x[4800:], y[4800:])
    counts = np.bincount(y[4800:], minlength=4)
    block(Event="castings", Train=4800, Val=1200,
          Val_Class_Share=", ".join(f"{c} {100 * n / 1200:.1f}%" for c, n in zip(CLASSES, counts)),
          Majority_Guess_Accuracy=f"{100 * counts.max() / 1200:.1f}%",
          Uniform_Guess_Ce=f"{np.log(4):.4f}")
    ckdir = tempfile.mkdtemp("_bells")
    trainer = Trainer(data, ckdir, seed=1)
    signal.signal(signal.SIGUSR1, trainer.on_warning)
    try:
        final = trainer.run()
    except BenchReclaimed:
        del trainer
        time.sleep(4.0)  # queue wait before the bench is handed back
        trainer = Trainer(data, ckdir, seed=99)
        signal.signal(signal.SIGUSR1, trainer.on_warning)
        trainer.restore()
        steps_per_epoch = 4800 // BATCH
        block(Event="requeued", Restored_Step=trainer.step, Epoch=trainer.epoch + 1,
              Next_Batch=f"{trainer.pos + 1}/{steps_per_epoch}", Lr=f"{trainer.sched.lr:.4g}",
              Sgd_Momentum_Leaves=len(tree_flatten(trainer.opt.state)),
              Val_Ce_After_Load=f"{trainer.evaluate()[0]:.6f}")
        final = trainer.run()
    vloss, acc, f1 = final
    block(Event="done", Val_Ce=f"{vloss:.4f}", Val_Accuracy=f"{100 * acc:.1f}%",
          Val_Macro_F1=f"{f1:.3f}", Seconds=f"{time.time() - t0:.1f}")
    shutil.rmtree(ckdir)


if __name__ == "__main__":
    main()
