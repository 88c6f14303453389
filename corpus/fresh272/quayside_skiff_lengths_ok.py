import time
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("harbour_lm")

np.random.seed(7)
mx.random.seed(7)

# ---- tiny word-level corpus: harbour radio phrases ----
phrases = [
    "skiff leaves the quayside at dawn",
    "skiff returns to the quayside at dusk",
    "the pilot boards the skiff at the buoy",
    "the ferry waits at the quayside for the pilot",
    "the harbour master calls the skiff to the buoy",
    "the pilot leaves the ferry at dawn",
    "the ferry returns to the harbour at dusk",
    "the harbour master waits for the ferry",
]
words = sorted({w for p in phrases for w in p.split()})
vocab = ["<pad>", "<bos>", "<eos>"] + words
stoi = {w: i for i, w in enumerate(vocab)}
PAD, BOS, EOS = 0, 1, 2
vocab_size = len(vocab)
max_sequence_length = 12
batch_size = 16


def encode(p):
    return [BOS] + [stoi[w] for w in p.split()] + [EOS]


def build_batches(num_batches):
    batches = []
    for _ in range(num_batches):
        inp = np.full((batch_size, max_sequence_length), PAD, dtype=np.int32)
        tgt = np.full((batch_size, max_sequence_length), PAD, dtype=np.int32)
        lengths = np.zeros((batch_size,), dtype=np.int32)
        for r in range(batch_size):
            ids = encode(phrases[np.random.randint(len(phrases))])
            n = len(ids) - 1
            inp[r, :n] = ids[:-1]
            tgt[r, :n] = ids[1:]
            lengths[r] = n
        batches.append({"input_tensor": inp, "target_tensor": tgt, "lengths": lengths})
    return batches


class PreTrainBatchDataset:
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        b = self.batches[index]
        return b["input_tensor"], b["target_tensor"], b["lengths"]


class MLP(nn.Module):
    def __init__(self, hidden_size, intermediate_size):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class SimpleLanguageModel(nn.Module):
    def __init__(self, vocab_size, hidden_size=32, intermediate_size=64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.mlp = MLP(hidden_size, intermediate_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def __call__(self, x):
        h = self.embedding(x)
        return self.head(h + self.mlp(h))


def chukloss(model, inputs, targets, lengths):
    logits = model(inputs).astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets)
    ce = ce * length_mask
    ntoks = length_mask.sum()
    ce = ce.sum() / ntoks
    return ce, ntoks


def schedule_learning_rate(optimizer, iteration_count, warmup_steps):
    return optimizer.learning_rate


class BatchProcessor:
    def __init__(self, model, optimizer, loss_function, warmup_steps):
        self.model = model
        self.optimizer = optimizer
        self.loss_function = loss_function
        self.warmup_steps = warmup_steps

    def process_batch(self, batch, batch_index, iteration_count):
        batch_start_time = time.time()

        try:
            expected_tokens = 0
            lengths = None

            if isinstance(batch, tuple) and len(batch) == 3:
                input_tensor, target_tensor, lengths = batch

                # load the lengths
                lengths = mx.array(lengths)

                if lengths.ndim > 1:
                    # calculate the max length
                    max_length = mx.max(lengths, axis=1, keepdims=True)

                    # reshape
                    lengths = mx.reshape(mx.max(lengths, axis=1, keepdims=True), (-1, 1))
                else:
                    max_length = mx.max(lengths)

                    # reshape
                    lengths = mx.reshape(max_length, (1,))

                input_tensor = mx.array(input_tensor)
                target_tensor = mx.array(target_tensor)
                expected_tokens = input_tensor.shape[0]

            current_lr = schedule_learning_rate(self.optimizer, iteration_count, self.warmup_steps)
            lr_before_update = float(current_lr) if isinstance(current_lr, (int, float)) else current_lr.item()

            lengths = lengths.reshape(-1, 1)

            (lvalue, ntoks), grad = self.loss_function(self.model, input_tensor, target_tensor, lengths)
            self.optimizer.update(self.model, grad)
            mx.eval(self.model.parameters(), self.optimizer.state, lvalue)

            return {
                "loss": lvalue.item(),
                "ntoks": int(ntoks.item()),
                "expected_tokens": expected_tokens,
                "batch_time": time.time() - batch_start_time,
                "lr_before_update": lr_before_update,
            }

        except Exception as e:
            logger.error(f"Error in batch {batch_index}: {e}")
            return {
                "loss": 0,
                "ntoks": 0,
                "expected_tokens": expected_tokens,
                "batch_time": time.time() - batch_start_time,
                "lr_before_update": self.optimizer.learning_rate,
            }


class Trainer:
    def __init__(self, model, optimizer, loss_function, progress_interval, warmup_steps=0):
        self.model = model
        self.optimizer = optimizer
        self.progress_interval = progress_interval
        self.batch_processor = BatchProcessor(model, optimizer, loss_function, warmup_steps)

    def train(self, num_epochs, batch_dataset):
        iteration_count = 0
        for epoch in range(num_epochs):
            epoch_loss, epoch_tokens, t0 = 0.0, 0, time.time()
            for batch_index in range(len(batch_dataset)):
                m = self.batch_processor.process_batch(batch_dataset[batch_index], batch_index, iteration_count)
                epoch_loss += m["loss"]
                epoch_tokens += m["ntoks"]
                iteration_count += 1
            if (epoch + 1) % self.progress_interval == 0 or epoch == 0:
                avg = epoch_loss / len(batch_dataset)
                tps = epoch_tokens / max(time.time() - t0, 1e-6)
                print(f"Epoch [{epoch + 1}/{num_epochs}] loss={avg:.4f} tokens={epoch_tokens} tok/s={tps:.0f} iter={iteration_count}")


model = SimpleLanguageModel(vocab_size)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=0.01)
loss_function = nn.value_and_grad(model, chukloss)
batch_dataset = PreTrainBatchDataset(build_batches(24))

trainer = Trainer(model, optimizer, loss_function, progress_interval=5, warmup_steps=0)
print(f"vocab={vocab_size} batches={len(batch_dataset)} batch_size={batch_size}")
print("Starting Training\n")
trainer.train(30, batch_dataset)
print("\nCompleted Training\n")

for prompt in ["the pilot boards the", "skiff returns to the", "the harbour master"]:
    ids = mx.array([[BOS] + [stoi[w] for w in prompt.split()]])
    logits = model(ids)
    pred = mx.argmax(logits[:, -1, :], axis=-1).item()
    print(f"Input sequence: {prompt!r} -> Predicted next word: {vocab[pred]}")
