# Small trainer with token-weighted windowed loss logging (logging_steps) and
# an on_epoch_end callback that forces a log so every epoch ends with a line.
import logging
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)s trainer: %(message)s")
log = logging.getLogger("trainer")

VOCAB, MAXLEN, BATCH = 16, 20, 32
LOGGING_STEPS, EPOCHS, BATCHES_PER_EPOCH = 10, 3, 40
rng = random.Random(0)
mx.random.seed(0)

# synthetic corpus from a sparse random bigram chain
trans = []
for a in range(VOCAB):
    nxt = rng.sample(range(1, VOCAB), 3)
    trans.append(nxt)


def sample_seq():
    n = rng.randint(8, MAXLEN)
    s = [rng.randrange(1, VOCAB)]
    while len(s) < n:
        s.append(rng.choice(trans[s[-1]]))
    return s + [0] * (MAXLEN - n), n


data = [sample_seq() for _ in range(BATCH * BATCHES_PER_EPOCH)]


class TinyLM(nn.Module):
    def __init__(self, dims=48):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.rnn = nn.GRU(dims, dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        return self.head(self.rnn(self.emb(x)))


model = TinyLM()
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(model, x, y, mask):
    ce = nn.losses.cross_entropy(model(x), y) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


loss_and_grad = nn.value_and_grad(model, loss_fn)


def all_sum(x):
    # single process: nothing to reduce
    return x


class Trainer:
    def __init__(self):
        self.global_step = 0
        self.should_log = False

    def train(self):
        losses, n_tokens, steps = 0, 0, 0
        t0 = time.time()

        def run_training_log():
            nonlocal losses, n_tokens, steps
            metric_losses = all_sum(losses)
            metric_tokens = all_sum(n_tokens)
            mx.eval(metric_losses, metric_tokens)
            avg = metric_losses.item() / metric_tokens.item()
            log.info("step %d | loss %.4f | ppl %.2f | tokens %d | %.1fs",
                     self.global_step, avg, math.exp(avg),
                     int(metric_tokens.item()), time.time() - t0)
            losses, n_tokens, steps = 0, 0, 0
            self.should_log = False

        for epoch in range(EPOCHS):
            order = list(range(len(data)))
            rng.shuffle(order)
            for b in range(BATCHES_PER_EPOCH):
                rows = [data[i] for i in order[b * BATCH:(b + 1) * BATCH]]
                seqs = mx.array([r[0] for r in rows])
                lens = mx.array([r[1] for r in rows])
                x, y = seqs[:, :-1], seqs[:, 1:]
                mask = (mx.arange(MAXLEN - 1)[None] < (lens[:, None] - 1)).astype(mx.float32)
                (loss, ntoks), grads = loss_and_grad(model, x, y, mask)
                opt.update(model, grads)
                losses = losses + loss * ntoks
                n_tokens = n_tokens + ntoks
                steps += 1
                mx.eval(model.parameters(), opt.state, losses, n_tokens)
                self.global_step += 1
                if self.global_step % LOGGING_STEPS == 0:
                    self.should_log = True
                if self.should_log:
                    run_training_log()
            # on_epoch_end callback: make sure every epoch closes with a log line
            log.info("epoch %d finished", epoch + 1)
            self.should_log = True
            if self.should_log:
                run_training_log()


Trainer().train()
log.info("training complete")
