# tiny byte-level LM, modelled on parameter-golf's train_gpt_mlx.py eval_val (bits per byte)
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
words = ["the", "tide", "pool", "salt", "crab", "moon", "rock", "kelp", "wave", "sand", "shell", "gull"]
def make_text(n):
    return " ".join(rng.choice(words, size=n)).encode()
train_tokens = np.frombuffer(make_text(6000), dtype=np.uint8).astype(np.int32)
val_tokens = np.frombuffer(make_text(36000), dtype=np.uint8).astype(np.int32)
base_bytes_lut = np.ones(256, dtype=np.int16)

SEQ = 64
class TinyLM(nn.Module):
    def __init__(self, vocab=256, dim=64):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, vocab)
    def __call__(self, x):
        e = self.tok_emb(x)
        prev = mx.concatenate([mx.zeros_like(e[:, :1]), e[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([e, prev], axis=-1)))
        return self.head(h)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()

model = TinyLM()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
state = [model.state, opt.state]

@partial(mx.compile, inputs=model.state)
def compiled_loss(x, y):
    return loss_fn(model, x, y)

def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss

def eval_val(val_batch_seqs=16):
    total_seqs = (val_tokens.size - 1) // SEQ
    total_loss = mx.array(0.0, dtype=mx.float32)
    total_tokens = 0.0
    total_bytes = 0.0
    for batch_seq_start in range(0, total_seqs, val_batch_seqs):
        end = min(batch_seq_start + val_batch_seqs, total_seqs)
        chunk = val_tokens[batch_seq_start * SEQ: end * SEQ + 1]
        x_np = chunk[:-1].reshape(-1, SEQ)
        y_np = chunk[1:].reshape(-1, SEQ)
        x = mx.array(x_np, dtype=mx.int32)
        y = mx.array(y_np, dtype=mx.int32)
        chunk_token_count = float(y.size)
        total_loss = total_loss + compiled_loss(x, y).astype(mx.float32) * chunk_token_count
        total_tokens += chunk_token_count
        total_bytes += float(base_bytes_lut[y_np.reshape(-1)].astype(np.float64).sum())
    total_loss = total_loss / total_tokens
    mx.eval(total_loss)
    val_loss = float(total_loss.item())
    val_bpb = val_loss / math.log(2.0) * (total_tokens / total_bytes)
    return val_loss, val_bpb

t0 = time.perf_counter()
n_batches = (train_tokens.size - 1) // (SEQ * 8)
for step in range(1, 121):
    i = (step - 1) % n_batches
    chunk = train_tokens[i * SEQ * 8: (i + 1) * SEQ * 8 + 1]
    x = mx.array(chunk[:-1].reshape(8, SEQ)); y = mx.array(chunk[1:].reshape(8, SEQ))
    loss = train_step(x, y)
    mx.eval(loss, state)
    if step == 1 or step % 60 == 0:
        mx.reset_peak_memory()
        tv = time.perf_counter()
        val_loss, val_bpb = eval_val()
        print(f"step:{step}/120 train_loss:{loss.item():.4f} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} "
              f"eval_time:{1000*(time.perf_counter()-tv):.0f}ms peak_mem:{mx.get_peak_memory()/2**20:.1f}MiB")
print(f"final_int8_zlib_roundtrip val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} total_time:{time.perf_counter()-t0:.1f}s")
