"""Config-driven adapter tuning for a cider-press juice-yield model.

Configs are JSON documents that may extend one another; command-line style
overrides (--key value) are applied last, the way mlx_lm.lora merges YAML and CLI.
"""
import argparse
import json
import math
import os
import shutil
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CONFIGS = {
    "base.json": {
        "seed": 3,
        "hidden": 48,
        "learning_rate": 3e-3,
        "warmup": 0,
        "iters": 500,
        "batch_size": 64,
        "steps_per_report": 500,
        "steps_per_eval": 500,
        "fine_tune_type": "full",
        "press": "rack_and_cloth",
    },
    "adapter.json": {
        "extends": "base.json",
        "fine_tune_type": "lora",
        "press": "belt",
        "learning_rate": 2e-2,
        "warmup": 60,
        "iters": 400,
        "steps_per_report": 25,
        "steps_per_eval": 100,
        "save_every": 200,
        "lora_parameters": {"keys": ["l1", "l2"], "rank": 4, "scale": 2.0},
    },
}
NOISE_SD = 0.15  # juice-yield noise (percentage points, standardised units below)


def load_config(name, overrides):
    cfg = dict(CONFIGS[name])
    if "extends" in cfg:
        parent = load_config(cfg.pop("extends"), [])
        parent.update(cfg)
        cfg = parent
    parser = argparse.ArgumentParser()
    for k, v in cfg.items():
        if isinstance(v, (int, float, str)) and not isinstance(v, bool):
            parser.add_argument(f"--{k}", type=type(v), default=v)
    args, _ = parser.parse_known_args(overrides)
    cfg.update(vars(args))
    return cfg


def make_press(press, n, seed):
    rng = np.random.default_rng(seed)
    # ripeness, firmness, grind size, press minutes, pectinase dose, apple temp
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = 0.8 * np.tanh(x[:, 0]) - 0.5 * x[:, 1] * x[:, 2] + 0.4 * np.log1p(np.exp(x[:, 3])) + 0.3 * x[:, 4]
    if press == "belt":
        # belt presses reward fine grind and cold fruit far more
        y = y - 0.9 * x[:, 2] - 0.6 * x[:, 5] + 0.5 * x[:, 0] * x[:, 5]
    y = y + NOISE_SD * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


class LoRALinear(nn.Module):
    def __init__(self, base, rank, scale):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = scale
        bound = 1.0 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-bound, bound, (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class YieldNet(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.l1 = nn.Linear(6, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def apply_adapters(model, lp):
    model.freeze()
    for key in lp["keys"]:
        setattr(model, key, LoRALinear(getattr(model, key), lp["rank"], lp["scale"]))
    return model


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build_schedule(cfg):
    main = optim.cosine_decay(cfg["learning_rate"], cfg["iters"] - cfg["warmup"], 1e-4)
    if cfg["warmup"] == 0:
        return main
    warm = optim.linear_schedule(0.0, cfg["learning_rate"], cfg["warmup"])
    return optim.join_schedules([warm, main], [cfg["warmup"]])


def trainable_count(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def total_count(model):
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def train(cfg, model, opt, data, start_it=0, stop_it=None, ckpt=None):
    (xtr, ytr), (xva, yva) = data
    step = nn.value_and_grad(model, loss_fn)
    stop_it = cfg["iters"] if stop_it is None else stop_it
    n = xtr.shape[0]
    running = []
    for it in range(start_it + 1, stop_it + 1):
        idx = mx.random.randint(0, n, (cfg["batch_size"],))
        loss, grads = step(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if it % cfg["steps_per_eval"] == 0 or it == 1:
            print(f"Iter {it}: Val loss {loss_fn(model, xva, yva).item():.4f}")
        if it % cfg["steps_per_report"] == 0:
            lr = opt.learning_rate.item()
            print(f"Iter {it}: Train loss {np.mean(running):.4f}, Learning Rate {lr:.3e}")
            running = []
        if ckpt and it % cfg.get("save_every", 10**9) == 0:
            mx.save_safetensors(ckpt["adapters"], dict(tree_flatten(model.trainable_parameters())))
            mx.save_safetensors(ckpt["optimizer"], dict(tree_flatten(opt.state)))
            print(f"Iter {it}: Saved adapter weights to {os.path.basename(ckpt['adapters'])}.")
    return model


def main(argv):
    tmp = tempfile.mkdtemp()

    # ---- stage 1: full fit of the base model on the rack-and-cloth press (quiet)
    base_cfg = load_config("base.json", argv)
    mx.random.seed(base_cfg["seed"])
    print(f"Loading configuration base.json: {json.dumps({k: base_cfg[k] for k in ('press', 'fine_tune_type', 'iters', 'learning_rate')})}")
    data_a = (make_press(base_cfg["press"], 4000, 0), make_press(base_cfg["press"], 800, 1))
    model = YieldNet(base_cfg["hidden"])
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=build_schedule(base_cfg))
    train(base_cfg, model, opt, data_a)
    base_path = os.path.join(tmp, "base.safetensors")
    model.save_weights(base_path)

    # ---- stage 2: adapter tuning on the belt press, interrupted and resumed
    cfg = load_config("adapter.json", argv)
    print(f"Loading configuration adapter.json: {json.dumps({k: cfg[k] for k in ('press', 'fine_tune_type', 'iters', 'learning_rate', 'warmup')})}, lora {cfg['lora_parameters']}")
    data_b = (make_press(cfg["press"], 4000, 10), make_press(cfg["press"], 800, 11))
    xva, yva = data_b[1]
    var_b = mx.var(yva).item()
    print(f"Baselines on {cfg['press']}: predict-mean {var_b:.4f}, frozen base {loss_fn(model, xva, yva).item():.4f}, noise floor {NOISE_SD**2:.4f}")

    apply_adapters(model, cfg["lora_parameters"])
    print(f"Trainable parameters: {100 * trainable_count(model) / total_count(model):.3f}% ({trainable_count(model)}/{total_count(model)})")
    ckpt = {"adapters": os.path.join(tmp, "adapters.safetensors"),
            "optimizer": os.path.join(tmp, "optimizer.safetensors")}
    opt = optim.Adam(learning_rate=build_schedule(cfg))
    half = cfg["save_every"]
    train(cfg, model, opt, data_b, 0, half, ckpt)
    print("Session ended; resuming from adapter file")

    # ---- resume: rebuild from config + base weights + adapter file + optimizer state
    model = YieldNet(cfg["hidden"])
    model.load_weights(base_path)
    apply_adapters(model, cfg["lora_parameters"])
    model.load_weights(ckpt["adapters"], strict=False)
    opt = optim.Adam(learning_rate=build_schedule(cfg))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(ckpt["optimizer"]).items()))
    print(f"Resumed at Iter {half}: Val loss {loss_fn(model, xva, yva).item():.4f}")
    train(cfg, model, opt, data_b, half, None, ckpt)

    final = loss_fn(model, xva, yva).item()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"Final val loss on {cfg['press']}: {final:.4f} (noise floor {NOISE_SD**2:.4f}, predict-mean {var_b:.4f})")


if __name__ == "__main__":
    main(["--batch_size", "128"])
