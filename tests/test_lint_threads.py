"""Arrays and streams crossing threads (MLX050-MLX052) on small programs: each fires on its
bug however it is spelled, and stays silent on the fixed form and on near misses."""

from __future__ import annotations

from lint_snippets import fired

# MLX050: a loop's lazy array put on a queue a thread reads and evaluates ----------------------

LOGGER = """
def logger():
    while True:
        step, value = log_q.get()
        records.append(value.item())

threading.Thread(target=logger, daemon=True).start()
"""


def test_mlx050_lazy_loss_put_for_a_logger_thread() -> None:
    code = LOGGER + """
for step in range(100):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    log_q.put((step, loss))
"""
    assert fired(code, "MLX050", header=HEADER_WITH_GRAD) == [13]


def test_mlx050_an_evaluated_loss_or_a_number_is_clean() -> None:
    code = LOGGER + """
for step in range(100):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    log_q.put((step, loss))
    log_q.put((step, acc.item()))
"""
    assert fired(code, "MLX050", header=HEADER_WITH_GRAD) == []


def test_mlx050_a_queue_whose_reader_only_stores_is_clean() -> None:
    """A thread that keeps what it gets and evaluates nothing does not use the graph."""
    code = """
def keeper():
    while True:
        kept.append(q.get())

threading.Thread(target=keeper).start()
for step in range(10):
    loss, grads = loss_and_grad(model, x, y)
    q.put(loss)
"""
    assert fired(code, "MLX050", header=HEADER_WITH_GRAD) == []


# MLX051: a stream made outside the thread that uses it ---------------------------------------

def test_mlx051_module_stream_used_by_a_worker() -> None:
    code = """
    side = mx.new_stream(mx.cpu)

    def worker(q):
        for i in range(10):
            with mx.stream(side):
                x = mx.random.normal((4,))
                mx.eval(x)
            q.put(x)

    threading.Thread(target=worker, args=(q,)).start()
    """
    assert fired(code, "MLX051") == [6]


def test_mlx051_stream_made_inside_the_worker_is_clean() -> None:
    code = """
    side = mx.new_stream(mx.cpu)

    def worker(q, side=None):
        own = mx.new_stream(mx.cpu)
        for i in range(10):
            with mx.stream(own):
                x = mx.random.normal((4,))
                mx.eval(x)
            q.put(x)

    def main_loop():
        with mx.stream(side):
            return mx.zeros((2,))

    threading.Thread(target=worker, args=(q,)).start()
    """
    assert fired(code, "MLX051") == []


# MLX052: a stream made at every step ---------------------------------------------------------

def test_mlx052_stream_made_in_a_loop_or_a_per_step_helper() -> None:
    code = """
    def make_batch():
        with mx.stream(mx.new_stream(mx.cpu)):
            return mx.random.normal((8, 4))

    for step in range(1000):
        x = make_batch()
        s = mx.new_stream(mx.gpu)
    """
    assert fired(code, "MLX052") == [3, 8]


def test_mlx052_one_stream_before_the_loop_is_clean() -> None:
    code = """
    data_stream = mx.new_stream(mx.cpu)

    def worker():
        own = mx.new_stream(mx.cpu)
        for i in range(10):
            with mx.stream(own):
                pass

    def make_batch():
        with mx.stream(data_stream):
            return mx.random.normal((8, 4))

    for step in range(1000):
        x = make_batch()
    threading.Thread(target=worker).start()
    """
    assert fired(code, "MLX052") == []


HEADER_WITH_GRAD = """\
import queue
import threading
import mlx.core as mx
import mlx.nn as nn
loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
