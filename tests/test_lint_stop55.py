"""Stop 55's lint change, on small programs with the spellings beside them that must stay
silent. From fresh90's correct loop `vineyard_moisture_deep_kernel_gp`: MLX024 (an
`mx.linalg` op with no VJP under a gradient) stands down in a helper that the differentiated
code calls only from an `mx.custom_function` with its own VJP, even where code outside the
gradient (a prediction) calls the helper too; a helper the loss calls directly still fires.
MLX034 (rounding under a gradient) stands down in a helper only such functions call. From
fresh91: MLX008 reads a name its function binds only to numbers and steps by numbers (a step
count returned from each fold) as a Python value. From fresh94: MLX036 reads a method of the
module (a VQ codebook's nearest-code search) as no layer; MLX119 reads the parameters of a
model that is float32 as built and never cast as float32; MLX153 reads a plain dict of
arrays (a hand-written student) and its `mx.value_and_grad` gradient as flat.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

GP = """
def solve(K, y):
    Kinv = mx.linalg.inv(K, stream=mx.cpu)
    return Kinv, Kinv @ y

@mx.custom_function
def nlml(K, y):
    _, a = solve(K, y)
    return 0.5 * (y * a).sum()
{vjp}

class GP(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_ell = mx.array(0.0)

    def cov(self, x):
        return mx.exp(self.log_ell) * (x @ x.T) + mx.eye(x.shape[0])

    def predict(self, x, y):
        Kinv, a = solve(self.cov(x), y)
        return a

def loss_fn(model, x, y):
    return {loss}

model = GP()
loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
VJP = """
@nlml.vjp
def nlml_vjp(primals, cotangent, output):
    K, y = primals
    Kinv, a = solve(K, y)
    return cotangent * 0.5 * (Kinv - a[:, None] * a[None, :]), cotangent * a
"""


@pytest.mark.parametrize("vjp, loss, fires", [
    (VJP, "nlml(model.cov(x), y)", False),  # the gradient is the hand-written one
    ("", "nlml(model.cov(x), y)", True),  # no VJP given: MLX differentiates the body
    (VJP, "nlml(model.cov(x), y) + solve(model.cov(x), y)[1].sum()", True),  # called directly
])
def test_mlx024_in_a_helper_of_a_custom_vjp(vjp: str, loss: str, fires: bool):
    assert bool(fired(GP.format(vjp=vjp, loss=loss), "MLX024")) == fires


SNAP = """
def snap(z):
    return mx.round(z * 15) / 15

@mx.custom_function
def quantize(z):
    return snap(z)

@quantize.vjp
def quantize_vjp(primals, cotangent, output):
    return (cotangent,)

def loss_fn(model, x):
    return mx.mean(mx.square({inner} - x))

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("inner, fires", [
    ("quantize(model(x))", False),  # snap runs only inside the custom function
    ("snap(model(x))", True),  # the loss rounds through snap itself: a zero gradient
])
def test_mlx034_in_a_helper_only_a_custom_vjp_calls(inner: str, fires: bool):
    assert bool(fired(SNAP.format(inner=inner), "MLX034")) == fires


FOLDS = """
def run_fold(model, opt, batches):
    step = 0
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for x, y in batches:
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        {count}
    return {result}

offset = 0
for k in range(4):
    n = run_fold(model, opt, folds[k])
    offset += n
"""


@pytest.mark.parametrize("count, result, fires", [
    ("step += 1", "step", False),  # a step count, a Python int
    ("step = step + 1", "step", False),  # the same count, spelled out
    ("step = step + loss", "step", True),  # a sum of losses: an array
    ("step += 1", "loss", True),  # the step's loss array, summed across folds unevaluated
])
def test_mlx008_reads_a_returned_step_count_as_a_number(count: str, result: str, fires: bool):
    assert bool(fired(FOLDS.format(count=count, result=result), "MLX008")) == fires


VQ = """
class VQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 4)
        self.decoder = nn.Linear(4, 8)
        self.codebook = mx.random.normal((16, 4))
        {extra}

    def assign(self, z):
        return mx.argmin(z @ self.codebook.T, axis=1)

    def __call__(self, x):
        z = self.encoder(x)
        codes = mx.stop_gradient({stopped})
        q = self.codebook[codes]
        return self.decoder(z + mx.stop_gradient(q - z))

loss_and_grad = nn.value_and_grad(model, lambda m, x: mx.mean(m(x) ** 2))
"""


@pytest.mark.parametrize("extra, stopped, fires", [
    ("", "self.assign(mx.stop_gradient(z))", False),  # a method of the module: no parameters
    ("self.router = nn.Linear(4, 16)", "mx.argmax(self.router(z), axis=1)", True),  # a layer
])
def test_mlx036_reads_a_method_of_the_module_as_no_layer(extra: str, stopped: str, fires: bool):
    assert bool(fired(VQ.format(extra=extra, stopped=stopped), "MLX036")) == fires


DISTILL = """
class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 32), nn.GELU(), nn.Linear(32, 4))

    def __call__(self, x):
        return self.body(x)

def student_init():
    return {"w1": mx.zeros((7, 12)), "b1": mx.zeros((12,))}

def student_loss(master, x, y):
    p = tree_map(lambda a: a.astype(mx.bfloat16), master)
    return mx.mean((x.astype(mx.bfloat16) @ p["w1"] + p["b1"]).astype(mx.float32) ** 2)

def main(x, y):
    teacher = Teacher()
    {cast}
    master = student_init()
    grad_fn = mx.value_and_grad(student_loss)
    before = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}
    for step in range(100):
        loss, g = grad_fn(master, x, y)
        master = tree_map(lambda w, gi: w - 0.1 * gi, master, g)
        mx.eval(master)
        print(sum(v.size for v in master.values()), max(gi.max().item() for gi in g.values()))
"""


@pytest.mark.parametrize("cast, fires", [
    ("", False),  # the teacher is float32 as built and never cast
    ("teacher.set_dtype(mx.bfloat16)", True),
])
def test_mlx119_reads_a_model_never_cast_as_float32(cast: str, fires: bool):
    assert bool(fired(DISTILL.replace("{cast}", cast), "MLX119")) == fires


def test_mlx153_reads_a_plain_dict_of_arrays_and_its_gradient_as_flat():
    # the student is a flat dict beside a teacher with submodules: its items are arrays
    assert fired(DISTILL.replace("{cast}", ""), "MLX153") == []
    # the teacher's gradient mirrors its submodules: its items are dicts
    nested = DISTILL.replace("{cast}", "").replace(
        "mx.value_and_grad(student_loss)", "nn.value_and_grad(teacher, student_loss)").replace(
        "grad_fn(master, x, y)", "grad_fn(teacher, x, y)")
    assert fired(nested, "MLX153") != []
