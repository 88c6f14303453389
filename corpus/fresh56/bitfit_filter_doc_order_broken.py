"""BitFit-style adaptation of a 'pretrained' regressor to a new sensor.

Only the bias vectors and the LayerNorm affine parameters are tuned; all
weight matrices must stay exactly as loaded.  The tunable subset is picked
with Module.filter_and_map.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)


class Backbone(nn.Module):
    def __init__(self, d_in=12, width=96, d_out=4):
        super().__init__()
        self.blocks = [
            nn.Linear(d_in, width), nn.LayerNorm(width),
            nn.Linear(width, width), nn.LayerNorm(width),
        ]
        self.head = nn.Linear(width, d_out)

    def __call__(self, x):
        for i in range(0, len(self.blocks), 2):
            x = nn.gelu(self.blocks[i + 1](self.blocks[i](x)))
        return self.head(x)


# "pretrained" checkpoint: a fixed teacher network
teacher = Backbone()
mx.eval(teacher.parameters())

# new sensor = same physics, but a calibration offset/gain on the readout
x_new = mx.random.normal((4096, 12))
offset = mx.array([0.8, -1.2, 0.4, 2.0])
y_new = teacher(x_new) * 1.15 + offset + 0.05 * mx.random.normal((4096, 4))
x_val = mx.random.normal((1024, 12))
y_val = teacher(x_val) * 1.15 + offset

model = Backbone()
model.update(teacher.parameters())          # load the checkpoint
mx.eval(model.parameters())
frozen_before = {k: mx.array(v) for k, v in tree_flatten(model.parameters())
                 if k.endswith("weight") and "blocks.1" not in k and "blocks.3" not in k}


def bitfit_filter(value, key, module):
    if isinstance(value, (dict, list)):      # descend into sub-modules / lists
        return True
    return isinstance(value, mx.array) and (key == "bias" or isinstance(module, nn.LayerNorm))


params = model.filter_and_map(bitfit_filter)
n_tensors = len(tree_flatten(params))
n_scalars = sum(v.size for _, v in tree_flatten(params))
print(f"[bitfit] tuning {n_tensors} tensors / {n_scalars} scalars "
      f"(model has {sum(v.size for _, v in tree_flatten(model.parameters()))})")


def loss_fn(params, x, y):
    model.update(params)
    return nn.losses.mse_loss(model(x), y)


value_and_grad = mx.value_and_grad(loss_fn)
opt = optim.Adam(learning_rate=1e-2)

t0 = time.time()
for step in range(1, 1201):
    idx = mx.random.randint(0, x_new.shape[0], (128,))
    loss, grads = value_and_grad(params, x_new[idx], y_new[idx])
    params = opt.apply_gradients(grads, params)
    model.update(params)
    mx.eval(params, opt.state, loss)
    if step == 1 or step % 200 == 0:
        val = nn.losses.mse_loss(model(x_val), y_val).item()
        print(f"[bitfit] step {step:4d} | batch mse {loss.item():.4f} | val mse {val:.4f} "
              f"| {time.time() - t0:5.1f}s")

drift = max(mx.abs(v - frozen_before[k]).max().item()
            for k, v in tree_flatten(model.parameters()) if k in frozen_before)
print(f"[bitfit] max |dW| over frozen weight matrices: {drift:.3e}")
