# Train a small MLP regressor from a YAML config, with command-line flags able to
# override config values (same merge pattern as the mlx_lm.lora CLI: a flag that is
# None falls back to the config file, then to built-in defaults).
import argparse
import math
import time
import numpy as np
import yaml
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG_YAML = """
# experiment config (normally read from config.yaml via -c)
hidden: 64
layers: 3
batch_size: 128
iters: 600
learning_rate: 3.0e-3
steps_per_report: 50
seed: 1
"""

CONFIG_DEFAULTS = {"hidden": 32, "layers": 2, "batch_size": 32, "iters": 1000,
                   "learning_rate": 1e-5, "steps_per_report": 10, "seed": 0}


def build_parser():
    p = argparse.ArgumentParser(description="MLP regression trainer")
    p.add_argument("--hidden", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--iters", type=int)
    p.add_argument("--learning-rate", type=float, default=1e-5, help="Adam learning rate")
    p.add_argument("--steps-per-report", type=int)
    p.add_argument("--seed", type=int)
    return p


args = build_parser().parse_args([])
config = yaml.safe_load(CONFIG_YAML)
for k, v in config.items():          # config fills in flags that were not given
    if getattr(args, k, None) is None:
        setattr(args, k, v)
for k, v in CONFIG_DEFAULTS.items():  # then the built-in defaults
    if getattr(args, k, None) is None:
        setattr(args, k, v)

mx.random.seed(args.seed)
rng = np.random.default_rng(args.seed)
X = rng.uniform(-2, 2, size=(4096, 6)).astype(np.float32)
y = (np.sin(X[:, :1] * 2) * X[:, 1:2] + np.cos(X[:, 2:3] * X[:, 3:4]) - X[:, 4:5] ** 2 / 2).astype(np.float32)
y = (y - y.mean()) / y.std()
X, y = mx.array(X), mx.array(y)

layers = [nn.Linear(6, args.hidden), nn.SiLU()]
for _ in range(args.layers - 1):
    layers += [nn.Linear(args.hidden, args.hidden), nn.SiLU()]
model = nn.Sequential(*layers, nn.Linear(args.hidden, 1))
opt = optim.Adam(learning_rate=args.learning_rate)
loss_fn = lambda m, xb, yb: nn.losses.mse_loss(m(xb), yb)
step = nn.value_and_grad(model, loss_fn)

print(f"Training for {args.iters} iters, batch {args.batch_size}, hidden {args.hidden}x{args.layers}")
tic = time.perf_counter()
running = 0.0
for it in range(1, args.iters + 1):
    idx = mx.array(rng.integers(0, X.shape[0], size=args.batch_size))
    loss, grads = step(model, X[idx], y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running += loss.item()
    if it % args.steps_per_report == 0:
        toc = time.perf_counter()
        print(f"Iter {it}: Train loss {running / args.steps_per_report:.3f}, "
              f"Learning Rate {opt.learning_rate.item():.3e}, "
              f"It/sec {args.steps_per_report / (toc - tic):.1f}")
        running = 0.0
        tic = time.perf_counter()
print(f"Final full-data mse {loss_fn(model, X, y).item():.4f}")
