"""Tiny LoRA fine-tune of a frozen char-level LM, trainer-class style."""
import logging
import math
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lora")

random.seed(3)
mx.random.seed(3)

VOCAB = "abcdefghijklmnopqrstuvwxyz ."
stoi = {c: i for i, c in enumerate(VOCAB)}
PHRASES = ["the cat sat on the mat.", "a dog ran in the fog.", "we met at ten."]
TEXT = " ".join(random.choice(PHRASES) for _ in range(400))
DATA = mx.array([stoi[c] for c in TEXT], dtype=mx.int32)
SEQ = 24


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.lora_a = mx.random.normal((in_d, rank)) * (1.0 / math.sqrt(in_d))
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class CharLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), d)
        self.rnn = nn.GRU(d, d)
        self.proj = nn.Linear(d, d)
        self.head = nn.Linear(d, len(VOCAB))

    def __call__(self, ids):
        h = self.rnn(self.emb(ids))
        return self.head(nn.gelu(self.proj(h)))


@dataclass
class TrainingConfig:
    learning_rate: float = 3e-3
    batch_size: int = 16
    max_steps: int = 400
    log_every: int = 25


@dataclass
class TrainerState:
    global_step: int = 0
    best_loss: float = float("inf")


class LoRATrainer:
    def __init__(self, model, cfg: TrainingConfig):
        self.model = model
        self.cfg = cfg
        self.state = TrainerState()
        self.optimizer = optim.AdamW(learning_rate=cfg.learning_rate, weight_decay=0.0)
        self.loss_and_grad = nn.value_and_grad(model, self.compute_loss)

    def compute_loss(self, model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    def get_batch(self):
        starts = [random.randrange(0, DATA.size - SEQ - 1) for _ in range(self.cfg.batch_size)]
        x = mx.stack([DATA[s:s + SEQ] for s in starts])
        y = mx.stack([DATA[s + 1:s + SEQ + 1] for s in starts])
        return x, y

    def training_step(self, batch):
        x, y = batch
        loss, grads = self.loss_and_grad(self.model, x, y)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        self.state.global_step += 1
        return {"loss": loss.item(), "learning_rate": self.cfg.learning_rate,
                "global_step": self.state.global_step}

    def train(self):
        t0 = time.time()
        window = []
        for _ in range(self.cfg.max_steps):
            out = self.training_step(self.get_batch())
            window.append(out["loss"])
            if out["global_step"] % self.cfg.log_every == 0:
                avg = sum(window) / len(window)
                window.clear()
                self.state.best_loss = min(self.state.best_loss, avg)
                log.info("step %d | loss %.4f | lr %.1e | %.1fs", out["global_step"], avg,
                         out["learning_rate"], time.time() - t0)
        log.info("done, best avg loss %.4f", self.state.best_loss)


model = CharLM()
mx.eval(model.parameters())
model.freeze()
model.proj = LoRALinear(model.proj)
model.head = LoRALinear(model.head)
model.proj.base.freeze()
model.head.base.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info("trainable params: %d", n_train)
LoRATrainer(model, TrainingConfig()).train()
