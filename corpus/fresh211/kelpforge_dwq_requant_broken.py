"""Distilled weight quantization (DWQ) of a small tagger, mlx-lm style.

The teacher is the 8-bit checkpoint we ship; the student is a 4-bit copy whose
quantization scales/biases are tuned with a KL loss against the teacher logits.
"""
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GROUP, TEACHER_BITS, STUDENT_BITS = 32, 8, 4
VOCAB, DIM, HID = 48, 64, 128
TEMP = 1.0


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(DIM, HID)
        self.mid = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, VOCAB)

    def __call__(self, x):
        h = nn.gelu(self.up(x))
        h = h + nn.gelu(self.mid(h))
        return self.head(h)


_CACHE = {}


def load_checkpoint(name):
    """Stand-in for mlx_lm.load(): 'toy-fp' is the bf16/fp32 base, 'toy-8bit' its 8-bit release."""
    if "base" not in _CACHE:
        mx.random.seed(11)
        base = Tagger()
        # make it look like a trained net: larger, heavier-tailed weights
        for lin in (base.up, base.mid, base.head):
            lin.weight = lin.weight * 2.5 + 0.05 * mx.random.laplace(lin.weight.shape)
        mx.eval(base.parameters())
        _CACHE["base"] = base
    model = copy.deepcopy(_CACHE["base"])
    if name.endswith("8bit"):
        nn.quantize(model, group_size=GROUP, bits=TEACHER_BITS)
    return model


def kl_loss(student, teacher_logits, x):
    s = student(x) / TEMP
    t = teacher_logits / TEMP
    pt = mx.softmax(t, axis=-1)
    kl = pt * ((t - mx.logsumexp(t, axis=-1, keepdims=True)) - (s - mx.logsumexp(s, axis=-1, keepdims=True)))
    return kl.sum(axis=-1).mean()


def main():
    t0 = time.time()
    teacher = load_checkpoint("toy-8bit")          # --model
    teacher.freeze()

    # no --quantized-model given: build the student by quantizing a copy
    student = load_checkpoint("toy-8bit")
    nn.quantize(student, group_size=GROUP, bits=STUDENT_BITS)
    student.freeze()
    student.unfreeze(keys=["scales", "biases"], recurse=True)

    n_train = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(student.parameters()))
    print(f"student: {n_train} trainable / {n_all} stored values ({100.0 * n_train / n_all:.2f}%)")

    mx.random.seed(5)
    calib = mx.random.normal((1024, DIM))
    valid = mx.random.normal((256, DIM))
    calib_t = teacher(calib)
    valid_t = teacher(valid)
    mx.eval(calib_t, valid_t)

    opt = optim.Adam(learning_rate=2e-5)
    step_fn = nn.value_and_grad(student, kl_loss)
    init_val = kl_loss(student, valid_t, valid).item()
    print(f"initial validation KL {init_val:.5f}")

    bs, steps = 64, 240
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, calib.shape[0], (bs,))
        loss, grads = step_fn(student, calib_t[idx], calib[idx])
        opt.update(student, grads)
        mx.eval(student.parameters(), opt.state, loss)
        if it % 20 == 0:
            gnorm = mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads))).item()
            print(f"[dwq] it {it:4d}  kl {loss.item():.5f}  |g| {gnorm:.4e}  lr {opt.learning_rate.item():.1e}")

    final_val = kl_loss(student, valid_t, valid).item()
    print(f"final validation KL {final_val:.5f} (initial {init_val:.5f})")
    if final_val >= init_val:
        print("warning: final validation loss did not improve on the initial one")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
