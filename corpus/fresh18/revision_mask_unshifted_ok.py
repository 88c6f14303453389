"""Self-revision fine-tune: learn to emit the 'revision' part of each example.

Each example is a prompt (random digits) followed by a revision (the prompt's
first 4 digits reversed, +1 mod 10). Loss is only taken on the revision tokens.
"""
import logging
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("revise")

VOCAB, PROMPT_LEN, REV_LEN = 12, 8, 4
SEP = 10


def make_example(rng):
    prompt = [rng.randrange(10) for _ in range(PROMPT_LEN)]
    revision = [(d + 1) % 10 for d in reversed(prompt[:REV_LEN])]
    seq = prompt + [SEP] + revision
    mask = [0] * (PROMPT_LEN + 1) + [1] * REV_LEN
    return seq, mask


def make_collated_training_example(examples):
    seqs = mx.array([s for s, _ in examples])
    mask = mx.array([m for _, m in examples], dtype=mx.float32)
    return {"input": seqs[:, :-1], "label": seqs[:, 1:], "mask": mask[:, 1:]}


class TinyLM(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.rnn = nn.GRU(dim, dim)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, batch):
    logits = model(batch["input"])
    per_tok = nn.losses.cross_entropy(logits, batch["label"], reduction="none")
    masked = per_tok * batch["mask"]
    return masked.sum() / batch["mask"].sum()


def main():
    rng = random.Random(0)
    mx.random.seed(0)
    model = TinyLM()
    opt = optim.SGD(learning_rate=0.5, momentum=0.9)
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, 401):
        batch = make_collated_training_example([make_example(rng) for _ in range(32)])
        loss, grads = step_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 25 == 0:
            log.info("iter %d revision_nll=%.4f", it, loss.item())


if __name__ == "__main__":
    main()
