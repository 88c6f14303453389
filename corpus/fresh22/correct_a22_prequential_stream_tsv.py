# Online learning on an endless synthetic stream, evaluated prequentially
# ("test-then-train"): every incoming mini-batch of 8 is first predicted with the
# current model (that is the score), then used for one SGD step, then thrown away.
# The cumulative prequential accuracy therefore averages in all the early
# mistakes and creeps up slowly; the windowed one shows the current quality.
# Output: tab-separated values with a header, one row every 5000 samples.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, K = 10, 3
mx.random.seed(11)
W_TRUE = mx.random.normal((D, K))
B_TRUE = mx.random.normal((D,))


def stream(batch):
    while True:
        x = mx.random.normal((batch, D))
        score = mx.tanh(x @ W_TRUE) + 0.3 * mx.sin(1.0 * (x @ B_TRUE))[:, None] * mx.array([1.0, -1.0, 0.0])
        yield x, mx.argmax(score, axis=1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, 48)
        self.fc2 = nn.Linear(48, 48)
        self.fc3 = nn.Linear(48, K)

    def __call__(self, x):
        return self.fc3(nn.silu(self.fc2(nn.silu(self.fc1(x)))))


def main():
    model = Net()
    lr0 = 0.08
    schedule = lambda step: lr0 / mx.sqrt(1.0 + step.astype(mx.float32) / 200.0)
    opt = optim.SGD(learning_rate=schedule, momentum=0.9)
    vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

    total = 100000
    report = 5000
    seen = cum_correct = win_correct = win_seen = 0
    win_loss = 0.0
    t0 = time.time()
    out = sys.stdout
    out.write("samples\tpreq_acc_cum\tpreq_acc_window\tpreq_logloss_window\tlr\twall_s\n")
    for x, y in stream(8):
        logits = model(x)  # test ...
        pred_ok = (mx.argmax(logits, axis=1) == y).sum()
        ll = nn.losses.cross_entropy(logits, y, reduction="sum")
        loss, grads = vg(model, x, y)  # ... then train
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, pred_ok, ll)
        k = pred_ok.item()
        cum_correct += k
        win_correct += k
        win_loss += ll.item()
        seen += x.shape[0]
        win_seen += x.shape[0]
        if seen % report == 0:
            out.write(f"{seen}\t{cum_correct / seen:.4f}\t{win_correct / win_seen:.4f}\t"
                      f"{win_loss / win_seen:.4f}\t{opt.learning_rate.item():.5f}\t{time.time() - t0:.1f}\n")
            out.flush()
            win_correct = win_seen = 0
            win_loss = 0.0
        if seen >= total:
            break


if __name__ == "__main__":
    main()
