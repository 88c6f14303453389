"""Federated LoRA fine-tuning (FedAvg) of a small frozen regressor, MLX only.

Stage 1 runs a few server rounds from a fresh adapter and saves
adapters.safetensors.  Stage 2 resumes the federation from that adapter
(model.adapter_path) for a few more rounds, the way a flwr ServerApp would.
"""
import logging
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-8s %(message)s")
log = logging.getLogger("fedlora")

D_IN, D_HID, D_OUT = 32, 256, 8
LORA_RANK, LORA_SCALE = 4, 2.0
NUM_CLIENTS = 4
LOCAL_STEPS = 40
BATCH = 128


# ---------------------------------------------------------------- model utils
class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D_IN, D_HID)
        self.fc2 = nn.Linear(D_HID, D_OUT)

    def __call__(self, x):
        return self.fc2(nn.tanh(self.fc1(x)))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, scale: float):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def make_base():
    """Pretrained base weights (fixed seed: every node gets the same base)."""
    mx.random.seed(1234)
    model = Regressor()
    mx.eval(model.parameters())
    return model


def linear_to_lora_layers(model, r=LORA_RANK, scale=LORA_SCALE):
    model.fc1 = LoRALinear(model.fc1, r, scale)
    model.fc2 = LoRALinear(model.fc2, r, scale)


def load_adapters(model, adapter_path):
    """Same as mlx_lm.load(..., adapter_path=...): freeze, add LoRA, load weights."""
    model.freeze()
    linear_to_lora_layers(model)
    model.load_weights(os.path.join(adapter_path, "adapters.safetensors"), strict=False)
    return model


def save_adapters(model, adapter_path):
    os.makedirs(adapter_path, exist_ok=True)
    weights = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(os.path.join(adapter_path, "adapters.safetensors"), weights)


def get_parameters(model):
    trainable = model.trainable_parameters()
    mx.eval(trainable)
    return [np.array(v) for _, v in tree_flatten(trainable)]


def set_parameters(model, parameters):
    keys = [k for k, _ in tree_flatten(model.trainable_parameters())]
    model.update(tree_unflatten([(k, mx.array(p)) for k, p in zip(keys, parameters)]))


def cosine_annealing(current_round, total_round, lrate_max=1e-2, lrate_min=5e-4):
    cos_inner = math.pi * current_round / total_round
    return lrate_min + 0.5 * (lrate_max - lrate_min) * (1 + math.cos(cos_inner))


# ---------------------------------------------------------------- data
rng = np.random.default_rng(7)
_teacher = make_base()
_u1 = rng.normal(size=(D_HID, 2)).astype(np.float32)
_v1 = rng.normal(size=(2, D_IN)).astype(np.float32)
_u2 = rng.normal(size=(D_OUT, 2)).astype(np.float32)
_v2 = rng.normal(size=(2, D_HID)).astype(np.float32)
_teacher.fc1.weight = _teacher.fc1.weight + 0.12 * mx.array(_u1 @ _v1)
_teacher.fc2.weight = _teacher.fc2.weight + 0.15 * mx.array(_u2 @ _v2)


def make_split(n, shift):
    x = rng.normal(loc=shift, size=(n, D_IN)).astype(np.float32)
    y = np.array(_teacher(mx.array(x)))
    y = y + 0.02 * rng.normal(size=y.shape).astype(np.float32)
    return mx.array(x), mx.array(y)


client_data = [make_split(1024 + 256 * c, 0.15 * (c - 1.5)) for c in range(NUM_CLIENTS)]
x_val, y_val = make_split(2048, 0.0)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


# ---------------------------------------------------------------- client
class Client:
    def __init__(self, cid):
        self.cid = cid
        self.model = make_base()
        self.model.freeze()
        linear_to_lora_layers(self.model)
        self.x, self.y = client_data[cid]
        self.loss_and_grad = nn.value_and_grad(self.model, mse)

    def fit(self, parameters, config):
        set_parameters(self.model, parameters)
        opt = optim.Adam(learning_rate=config["lr"])
        n = self.x.shape[0]
        losses = []
        for _ in range(LOCAL_STEPS):
            idx = mx.array(np.random.randint(0, n, size=BATCH))
            loss, grads = self.loss_and_grad(self.model, self.x[idx], self.y[idx])
            opt.update(self.model, grads)
            mx.eval(self.model.parameters(), opt.state, loss)
            losses.append(loss.item())
        return get_parameters(self.model), n, {"train_loss": float(np.mean(losses))}


# ---------------------------------------------------------------- server
def build_global_model(adapter_path=None):
    init_model = make_base()
    init_model.freeze()
    linear_to_lora_layers(init_model)
    if adapter_path:
        init_model.load_weights(os.path.join(adapter_path, "adapters.safetensors"), strict=False)
    return init_model


def fedavg(results):
    total = sum(n for _, n, _ in results)
    n_tensors = len(results[0][0])
    return [sum(p[i] * n for p, n, _ in results) / total for i in range(n_tensors)]


def centralized_eval(parameters):
    model = make_base()
    model.freeze()
    linear_to_lora_layers(model)
    set_parameters(model, parameters)
    return mse(model, x_val, y_val).item()


def run_server(num_rounds, start_round, total_rounds, adapter_path, save_path):
    init_model = build_global_model(adapter_path)
    params = get_parameters(init_model)
    log.info("Requesting initial parameters from strategy (%d tensors)", len(params))
    history = [(start_round - 1, centralized_eval(params))]
    log.info("initial parameters (loss, other metrics): %.5f, {}", history[0][1])
    clients = [Client(c) for c in range(NUM_CLIENTS)]
    for rnd in range(start_round, start_round + num_rounds):
        lr = cosine_annealing(rnd - 1, total_rounds)
        log.info("")
        log.info("[ROUND %d]", rnd)
        log.info("configure_fit: strategy sampled %d clients (out of %d), lr=%.4g",
                 NUM_CLIENTS, NUM_CLIENTS, lr)
        results = [c.fit(params, {"lr": lr}) for c in clients]
        tr = sum(m["train_loss"] * n for _, n, m in results) / sum(n for _, n, _ in results)
        log.info("aggregate_fit: received %d results and 0 failures, train_loss=%.5f",
                 len(results), tr)
        params = fedavg(results)
        val = centralized_eval(params)
        history.append((rnd, val))
        log.info("fit progress: (%d, %.5f, {'train_loss': %.5f})", rnd, val, tr)
    model = make_base()
    model.freeze()
    linear_to_lora_layers(model)
    set_parameters(model, params)
    save_adapters(model, save_path)
    return history


if __name__ == "__main__":
    t0 = time.time()
    np.random.seed(0)
    total_rounds = 12
    work = tempfile.mkdtemp(prefix="fedlora_")
    stage1_dir = os.path.join(work, "stage1")
    stage2_dir = os.path.join(work, "stage2")

    log.info("Starting Flower-style simulation, stage 1 (fresh adapter), rounds 1-9")
    h1 = run_server(9, 1, total_rounds, None, stage1_dir)
    log.info("stage 1 saved adapter to %s", stage1_dir)

    log.info("Starting stage 2, resuming from model.adapter_path=%s, rounds 10-12", stage1_dir)
    h2 = run_server(3, 10, total_rounds, stage1_dir, stage2_dir)

    log.info("")
    log.info("[SUMMARY]")
    log.info("History (loss, centralized):")
    for rnd, v in h1 + h2:
        log.info("\tround %2d: %.5f", rnd, v)

    # inference check: reload the final adapter from disk
    final = load_adapters(make_base(), stage2_dir)
    base = make_base()
    log.info("final adapter val mse %.5f | base model val mse %.5f | stage-1 end %.5f",
             mse(final, x_val, y_val).item(), mse(base, x_val, y_val).item(), h1[-1][1])
    log.info("done in %.1fs", time.time() - t0)
