"""Ratchet search over LoRA configs for a tiny tool-calling router.

Each experiment: propose a config change, train a LoRA adapter on top of the
frozen base router, save the adapter, then score it on the validation prompts.
Keep the config if the score beats the best so far.
"""
import json
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TOOLS = ["get_weather", "send_email", "create_event", "search_web", "set_timer", "play_music"]
VOCAB = 64
SEQ = 8
WORKDIR = tempfile.mkdtemp(prefix="ratchet_")


# ---------------------------------------------------------------- data
def make_split(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        t = rng.randrange(len(TOOLS))
        kw = [3 * t + k for k in range(3)]          # tokens 0..17 are tool keywords
        toks = [rng.randrange(18, VOCAB) for _ in range(SEQ)]
        for p in rng.sample(range(SEQ), 2):
            toks[p] = rng.choice(kw)
        rows.append({"tokens": toks, "tool": t})
    return rows


def to_arrays(rows):
    return mx.array([r["tokens"] for r in rows]), mx.array([r["tool"] for r in rows])


# ---------------------------------------------------------------- model
class ToolRouter(nn.Module):
    def __init__(self, dim=32, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.head = nn.Linear(hidden, len(TOOLS))

    def __call__(self, x):
        h = self.emb(x).mean(axis=1)
        return self.head(nn.gelu(self.fc1(h)))


class LoRALinear(nn.Module):
    def __init__(self, linear, rank, scale=2.0):
        super().__init__()
        out_d, in_d = linear.weight.shape
        self.linear = linear
        self.scale = scale
        self.lora_a = mx.random.normal((in_d, rank)) * (1.0 / in_d ** 0.5)
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def apply_lora(model, rank):
    model.freeze()
    model.fc1 = LoRALinear(model.fc1, rank)
    model.head = LoRALinear(model.head, rank)
    return model


def load(model_path, adapter_path=None):
    """Load the base router, and the adapter on top when one is given."""
    model = ToolRouter()
    model.load_weights(os.path.join(model_path, "model.safetensors"))
    if adapter_path is not None:
        cfg = json.load(open(os.path.join(adapter_path, "adapter_config.json")))
        apply_lora(model, cfg["rank"])
        model.load_weights(os.path.join(adapter_path, "adapters.safetensors"), strict=False)
    mx.eval(model.parameters())
    return model


# ---------------------------------------------------------------- train / eval
def run_training(cfg, base_path, train_rows):
    mx.random.seed(cfg["seed"])
    model = load(base_path)
    apply_lora(model, cfg["rank"])
    opt = optim.Adam(learning_rate=cfg["lr"])
    X, Y = to_arrays(train_rows)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    rng = random.Random(cfg["seed"])
    losses = []
    for it in range(cfg["iters"]):
        idx = mx.array(rng.sample(range(X.shape[0]), cfg["batch"]))
        loss, grads = step(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if (it + 1) % 50 == 0:
            print(f"    iter {it + 1:4d}  train_loss {sum(losses[-50:]) / 50:.4f}")
    os.makedirs(cfg["adapter_path"], exist_ok=True)
    mx.save_safetensors(os.path.join(cfg["adapter_path"], "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    json.dump({"rank": cfg["rank"]}, open(os.path.join(cfg["adapter_path"], "adapter_config.json"), "w"))


def evaluate(model_path, data_path, adapter_path=None):
    model = load(model_path, adapter_path=adapter_path)
    rows = [json.loads(l) for l in open(data_path) if l.strip()]
    X, Y = to_arrays(rows)
    pred = mx.argmax(model(X), axis=-1)
    return (pred == Y).astype(mx.float32).mean().item()


def _score_model(base_model, adapter_path, data_path):
    return evaluate(base_model, data_path, adapter_path=adapter_path)


# ---------------------------------------------------------------- ratchet
SEARCH_SPACE = {"lr": [3e-3, 1e-2, 2e-2], "rank": [2, 4, 8], "batch": [16, 32]}


def propose_config(cfg, rng):
    new = dict(cfg)
    key = rng.choice(sorted(SEARCH_SPACE))
    new[key] = rng.choice(SEARCH_SPACE[key])
    return new


def main():
    t0 = time.time()
    mx.random.seed(0)
    base_path = os.path.join(WORKDIR, "base")
    os.makedirs(base_path)
    base = ToolRouter()
    mx.eval(base.parameters())
    base.save_weights(os.path.join(base_path, "model.safetensors"))

    train_rows = make_split(600, seed=1)
    valid_path = os.path.join(WORKDIR, "valid.jsonl")
    with open(valid_path, "w") as f:
        for r in make_split(200, seed=2):
            f.write(json.dumps(r) + "\n")

    best = evaluate(base_path, valid_path)
    print(f"base model score: {best:.4f}")
    cfg = {"lr": 1e-3, "rank": 4, "batch": 32, "iters": 150, "seed": 0}
    rng = random.Random(42)
    results = []
    for exp in range(1, 9):
        proposed = propose_config(cfg, rng)
        proposed["seed"] = exp
        proposed["adapter_path"] = os.path.join(WORKDIR, f"adapters_exp{exp:03d}")
        print(f"--- Experiment {exp}: lr={proposed['lr']} rank={proposed['rank']} batch={proposed['batch']}")
        run_training(proposed, base_path, train_rows)
        score = _score_model(base_path, proposed["adapter_path"], valid_path)
        kept = score > best
        print(f"    {'KEEP' if kept else 'discard'} {score:.4f} (best {best:.4f})")
        if kept:
            best = score
            cfg = {k: proposed[k] for k in cfg}
        results.append((exp, score, kept))
    print("exp  score   kept")
    for exp, score, kept in results:
        print(f"{exp:3d}  {score:.4f}  {kept}")
    print(f"best score {best:.4f}  config lr={cfg['lr']} rank={cfg['rank']} batch={cfg['batch']}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
