"""Fine-tune a 'pretrained' MLP (teacher weights + drift) back onto the teacher's
outputs. The checkpoint is loaded in bfloat16 like a released model."""
import copy

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def build(d_in=16, width=64, d_out=4):
    return nn.Sequential(nn.Linear(d_in, width), nn.GELU(), nn.Linear(width, width),
                         nn.GELU(), nn.Linear(width, d_out))


def load_for_finetune(teacher, drift=0.01, dtype=mx.float32):
    student = copy.deepcopy(teacher)
    noisy = tree_map(lambda p: p + drift * mx.random.normal(p.shape), teacher.parameters())
    student.update(noisy)
    student.set_dtype(dtype)
    return student


def distill_loss(student, teacher_out, x):
    pred = student(x.astype(student.layers[0].weight.dtype)).astype(mx.float32)
    return mx.mean((pred - teacher_out) ** 2)


def frac_changed(before, after):
    b = dict(tree_flatten(before))
    tot = chg = 0
    for k, v in tree_flatten(after):
        chg += mx.sum(v != b[k]).item()
        tot += v.size
    return chg / tot


def main():
    mx.random.seed(0)
    teacher = build()
    mx.eval(teacher.parameters())
    student = load_for_finetune(teacher)
    mx.eval(student.parameters())
    prev = student.parameters()
    opt = optim.AdamW(learning_rate=2e-5, weight_decay=0.01)
    step = nn.value_and_grad(student, distill_loss)
    x_eval = mx.random.normal((256, 16))
    y_eval = teacher(x_eval)
    print(f"param dtype {student.layers[0].weight.dtype}")
    for it in range(400):
        x = mx.random.normal((64, 16))
        loss, grads = step(student, teacher(x), x)
        opt.update(student, grads)
        mx.eval(student.parameters(), opt.state, loss)
        if it % 100 == 0 or it == 399:
            ev = distill_loss(student, y_eval, x_eval).item()
            print(f"it {it:3d} eval mse {ev:.7f} params changed since last report "
                  f"{100 * frac_changed(prev, student.parameters()):.1f}%")
            prev = student.parameters()


if __name__ == "__main__":
    main()
