"""Bollard tally: teach a tiny llama to write cargo tags backwards.

Stage 1 fits the base model (full weights) on the easy 'copy' ledger.
Stage 2 freezes it and trains LoRA adapters on the 'reverse' ledger through
mlx_lm's own CompletionsDataset/CacheDataset (prompt masked), TrainingArgs
with gradient accumulation, and mlx_lm.tuner.trainer.train.
Afterwards both ledgers are scored with mlx_lm.tuner.trainer.evaluate.
"""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

from mlx_lm.models import llama
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.datasets import CacheDataset, CompletionsDataset
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train
from mlx_lm.tuner.utils import build_schedule, linear_to_lora_layers

random.seed(7)
mx.random.seed(7)

CHARS = list("0123456789ABCDEFGH")
SPECIAL = ["<pad>", "<bos>", "<eos>", "U:", "A:", "|"]
VOCAB = SPECIAL + CHARS
ID = {t: i for i, t in enumerate(VOCAB)}


class LedgerTokenizer:
    eos_token_id = ID["<eos>"]

    def apply_chat_template(self, messages, tools=None, add_generation_prompt=False,
                            return_dict=False, tokenize=True):
        out = [ID["<bos>"]]
        for m in messages:
            out.append(ID["U:"] if m["role"] == "user" else ID["A:"])
            out.extend(ID[c] for c in m["content"])
            out.append(ID["|"] if m["role"] == "user" else ID["<eos>"])
        if add_generation_prompt:
            out.append(ID["A:"])
        return out


def make_rows(n, rule):
    rows = []
    for _ in range(n):
        tag = "".join(random.choice(CHARS) for _ in range(random.randint(4, 7)))
        rows.append({"prompt": tag, "completion": tag if rule == "copy" else tag[::-1]})
    return rows


tok = LedgerTokenizer()


def ledger(rows):
    return CacheDataset(CompletionsDataset(rows, tok, "prompt", "completion", mask_prompt=True))


copy_train, copy_val = ledger(make_rows(512, "copy")), ledger(make_rows(64, "copy"))
rev_train, rev_val = ledger(make_rows(512, "reverse")), ledger(make_rows(64, "reverse"))
rev_test_rows = make_rows(48, "reverse")

args = llama.ModelArgs(model_type="llama", hidden_size=64, num_hidden_layers=2,
                       intermediate_size=128, num_attention_heads=4, rms_norm_eps=1e-5,
                       vocab_size=len(VOCAB), num_key_value_heads=4, tie_word_embeddings=True)
model = llama.Model(args)
mx.eval(model.parameters())


class QuietLog(TrainingCallback):
    def __init__(self, tag, every):
        self.tag, self.every = tag, every

    def on_train_loss_report(self, info):
        if info["iteration"] % self.every == 0:
            print(f"[{self.tag}] Iter {info['iteration']}: Train loss {info['train_loss']:.3f}, "
                  f"Learning Rate {info['learning_rate']:.3e}, Trained Tokens {info['trained_tokens']}",
                  flush=True)

    def on_val_loss_report(self, info):
        print(f"[{self.tag}] Iter {info['iteration']}: Val loss {info['val_loss']:.3f}", flush=True)


def greedy_exact(rows):
    model.eval()
    hits = 0
    for r in rows:
        ids = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}],
                                      add_generation_prompt=True)
        out = []
        for _ in range(len(r["prompt"]) + 1):
            nxt = int(mx.argmax(model(mx.array([ids + out]))[0, -1]).item())
            if nxt == ID["<eos>"]:
                break
            out.append(nxt)
        hits += "".join(VOCAB[i] for i in out) == r["completion"]
    return 100.0 * hits / len(rows)


def score(name):
    c = evaluate(model, copy_val, batch_size=16, num_batches=-1)
    r = evaluate(model, rev_val, batch_size=16, num_batches=-1)
    print(f"score[{name}] copy-ledger val {c:.3f} | reverse-ledger val {r:.3f} | "
          f"uniform guess {mx.log(mx.array(len(VOCAB))).item():.3f}", flush=True)
    return c, r


t0 = time.time()
print(f"vocab {len(VOCAB)}  params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
score("init")

# Stage 1: full-weight fit of the base on the copy ledger.
base_args = TrainingArgs(batch_size=16, iters=100, val_batches=-1, steps_per_report=20,
                         steps_per_eval=50, steps_per_save=10**9, max_seq_length=32,
                         adapter_file="/tmp/bollard_base.safetensors")
train(model, optim.AdamW(learning_rate=2e-3), copy_train, copy_val, args=base_args,
      training_callback=QuietLog("base", 20))
base_copy, base_rev = score("base")

# Stage 2: freeze, add adapters, train on the reverse ledger.
model.freeze()
linear_to_lora_layers(model, 2, {"rank": 8, "scale": 4.0, "dropout": 0.0,
                                 "keys": ["self_attn.q_proj", "self_attn.k_proj",
                                          "self_attn.v_proj", "self_attn.o_proj",
                                          "mlp.up_proj", "mlp.down_proj"]})
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"adapters attached: trainable {n_tr}")
sched = build_schedule({"name": "cosine_decay", "warmup": 20, "arguments": [3e-3, 160, 2e-4]})
print(f"schedule: lr(0)={sched(0).item():.2e} lr(20)={sched(20).item():.2e} lr(179)={sched(179).item():.2e}")
lora_args = TrainingArgs(batch_size=16, iters=360, val_batches=-1, steps_per_report=20,
                         steps_per_eval=120, steps_per_save=180, max_seq_length=32,
                         grad_accumulation_steps=2,
                         adapter_file="/tmp/bollard_adapters.safetensors")
train(model, optim.Adam(learning_rate=sched), rev_train, rev_val, args=lora_args,
      training_callback=QuietLog("lora", 40))
fin_copy, fin_rev = score("adapted")
em = greedy_exact(rev_test_rows)
print(f"reverse-ledger exact match {em:.1f}% (frozen base, adapters on)")
print(f"copy-ledger val moved {base_copy:.3f} -> {fin_copy:.3f} (adapters were trained on reverse only)")
print(f"done in {time.time() - t0:.1f}s")
