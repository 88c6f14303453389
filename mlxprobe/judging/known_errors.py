"""Known MLX error texts: the message pattern, the cause in one sentence, the fix as a code
line, and the public issue where users met it.

Job: a crash's hint says why and what to change, not only what was raised. `find(text)`
matches an exception's `Type: message` (or a stderr tail) against the table, first match
wins, so the more specific patterns come first. Entries with a `crash` name a crash after
themselves (`crash:metal_gpu_timeout`): aborts whose exception type says nothing (SIGABRT
from an uncaught C++ exception). The patterns are MLX's own message texts, measured on mlx
0.32.4 where the error can be raised on a CPU (tests/test_known_errors.py raises each of
those for real) and quoted from the linked issue otherwise (Metal, CUDA).

Written by hand: no library holds MLX's error texts. Must not import: mlx, anything with
side effects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVAL_STATE = "`mx.eval(loss, model.parameters(), optimizer.state)`"


@dataclass(frozen=True)
class KnownError:
    name: str
    pattern: str  # a regular expression searched in "Type: message" or stderr
    cause: str  # one sentence
    fix: str  # a code line (or two)
    source: str  # the public issue
    crash: str = ""  # a crash detail that names the crash after this error

    @property
    def hint(self) -> str:
        return f"{self.cause}; fix: {self.fix} (seen in {self.source})"

    def hint_for(self, text: str) -> str:
        """The hint, with `{0}` in the cause filled by the pattern's first group in `text`
        (the op or the type the message names)."""
        found = re.search(self.pattern, text)
        named = found.group(1) if found and found.groups() and found.group(1) else "this op"
        return self.hint.replace("{0}", named)


GH = "https://github.com/"
TABLE: tuple[KnownError, ...] = (
    KnownError(
        "compile_uncaptured_state",
        r"make sure all the inputs and outputs are captured",
        "a compiled function left arrays with no primitive in the state it touches: either "
        "it changed state it was not given (the model's parameters, the optimizer's state or "
        "the random state updated inside `mx.compile` without `inputs=`/`outputs=`), or it "
        "raised an exception while it was being traced (a Python check of a batch's shape or "
        "a value inside the compiled function) that the program caught and went on from: the "
        "trace stopped halfway and left its placeholders in the captured state",
        "`state = [model.state, optimizer.state, mx.random.state]; step = "
        "partial(mx.compile, inputs=state, outputs=state)(step)`; a check that may raise "
        "goes outside the compiled function, before calling it (seen also in "
        "https://github.com/Blaizzy/mlx-vlm/issues/1654)",
        GH + "ml-explore/mlx/pull/629"),
    KnownError(
        "closure_shares_captured_state",
        r"compile a function with uncaptured inputs",
        "the compiled function reads, through a closure, an array that is also one of its "
        "captured `inputs=`: a second model sharing the first's arrays (a frozen reference "
        "or teacher made with `reference_model.update(model.parameters())`) is seen both as "
        "a traced input and as an uncaptured one",
        "`state = [model.state, reference_model.state, optimizer.state, mx.random.state]; "
        "step = "
        "partial(mx.compile, inputs=state, outputs=state)(step)`: capture every model the "
        "step reads (measured, failure corpus fresh155 `dpo_reference_state_capture`)",
        GH + "ml-explore/mlx-lm/commit/2a3cac2bdec226507bb3a1ad40c0fcc5aa464abb"),
    KnownError(
        "stream_of_another_thread",
        r"There is no Stream\(\w+, \d+\) in current thread",
        "an array built lazily in one thread (or a stream made there) was evaluated or used "
        "in another: MLX's streams are per thread (since 0.31.2), so a lazy loss handed to a "
        "logger thread, or a stream object handed to a prefetch worker, cannot run there",
        "`mx.eval(loss)` (or hand over `loss.item()`) in the thread that built it; create "
        "the stream inside the thread that uses it: `s = mx.new_stream(mx.cpu)` there",
        GH + "ml-explore/mlx/issues/3727"),
    KnownError(
        "random_state_assigned",
        r"'_RandomState' object does not support item assignment",
        "the program assigns into `mx.random.state` (to rewind or reseed the global key): "
        "since mlx 0.32.1 it is a read-only view of the global random state",
        "reseed with `mx.random.seed(n)`, or keep your own key and pass it explicitly: "
        "`key = mx.random.key(n); mx.random.normal(shape, key=key)`",
        GH + "ml-explore/mlx/pull/3828"),
    KnownError(
        "heap_corruption",
        r"munmap_chunk\(\): invalid pointer|free\(\): invalid (?:pointer|size)|double free "
        r"or corruption|malloc\(\): (?:corrupted|invalid)|corrupted size vs\. prev_size",
        "the C library found its heap corrupted: something wrote outside an array. MLX does "
        "not check indices, so an index past the end writes or reads out of bounds: class "
        "labels at or above the number of classes (labels numbered from 1 for K logits), a "
        "token id at or above the vocabulary size, a gather or scatter index past an axis",
        "labels must run 0..K-1: `y = y - 1` for labels numbered from 1; check once before "
        "training: `assert mx.max(y).item() < num_classes`",
        GH + "ml-explore/mlx/issues/206"),
    KnownError(
        "none_called",
        r"TypeError: 'NoneType' object is not callable",
        "a name holding None was called: a factory that returns None where its backend is "
        "missing (a Metal kernel built with `mx.fast.metal_kernel` only when "
        "`mx.metal.is_available()`, then called on a CPU or CUDA run), a hook or callback "
        "left at its None default, or a function name rebound to None",
        "guard the kernel path and fall back to plain ops elsewhere: `if "
        "mx.metal.is_available() and mx.default_device() == mx.gpu: out = kernel(...)` "
        "`else: out = reference(...)`; check `if fn is not None` before calling a hook",
        GH + "ml-explore/mlx-lm/commit/d4ee70afa74c179abd24e2fd03ddce2b373c1612"),
    KnownError(
        "shadowed_function",
        r"TypeError: '(\w+)' object is not callable",
        "a name that held a function was rebound to a value (a {0}) and then called: an "
        "accumulator named like the function (`loss = 0` in the scope that calls "
        "`loss(...)`) shadows it",
        "rename one of the two: the function (`loss_fn`) or the value (`total_loss`)",
        GH + "Po-Hsun-Su/pytorch-ssim/issues/29"),
    KnownError(
        "eval_in_transform",
        r"\[eval\] Attempting to eval an array (during function transformations|without a "
        r"primitive)",
        "an array was evaluated (`.item()`, `float()`, `print`, `np.array`, `mx.eval`, or a "
        "Python `if`/`while` condition on an array) inside a function under `mx.compile`, "
        "`vmap` or a gradient transform, where values do not exist yet",
        "return the array from the compiled step and read it outside: `loss = step(x); "
        "print(loss.item())`; replace data-dependent control flow with `mx.where(cond, a, b)` "
        "or a fixed-count loop", GH + "ml-explore/mlx/issues/1083"),
    KnownError(
        "conv_channels_last",
        r"\[conv\] Expect the input channels in the input and weight array to match",
        "the input reached a convolution channels-first (PyTorch's NCL / NCHW); MLX's Conv1d "
        "and Conv2d take channels last (NLC / NHWC)",
        "`x = x.transpose(0, 2, 1)` (Conv1d) or `x = x.transpose(0, 2, 3, 1)` (Conv2d) "
        "before the model", GH + "Blaizzy/mlx-embeddings/issues/21"),
    KnownError(
        "image_tokens_features",
        r"Image features and image tokens do not match|supports only one image per input"
        r"|number of image tokens is \d+ while the number of image",
        "a vision-language model got a different number of image features from its vision "
        "tower than image placeholder tokens in its prompt: images dropped on the way (a "
        "batch of images of different sizes, a ragged batch, collated by keeping only the "
        "first image's pixel_values), a prompt built without (or with extra) image "
        "placeholders, a processor whose token count per image differs from the model's, or "
        "a merge that writes one image's patch features (a row per patch) into the positions "
        "of a single `<image>` placeholder",
        "keep every image: collate a ragged batch's pixel_values as a list (one array per "
        "image) or resize the images to one shape before `mx.stack`, and build each prompt "
        "with the processor's chat template so it holds one placeholder run per image; a "
        "merge of one placeholder per image splices the image's patch features in its place: "
        "cut the text embeddings at the `image_token_index` positions and `mx.concatenate` "
        "the text segments interleaved with each image's features along the sequence axis "
        "(pierretokns/mlx-vlm 95e165c)",
        GH + "Blaizzy/mlx-vlm/issues/607"),
    KnownError(
        "lora_not_fused",
        r"Received \d+ parameters not in model(?:[^\n]*\n){0,64}?[^\n]*\blora_[abAB]\b",
        "the checkpoint holds LoRA adapter parameters (`lora_a`, `lora_b`, the wrapped layer's "
        "`.linear.` weights) that the model loading it does not have: an adapter-wrapped "
        "model saved as a merged model without folding its adapters into the base weights, "
        "or adapters loaded into a model that was never given its LoRA layers",
        "fuse before saving a merged model: `fused = [(n, m.fuse()) for n, m in "
        "model.named_modules() if hasattr(m, 'fuse')]; model.update_modules("
        "tree_unflatten(fused))` (as mlx_lm's fuse does), then save; or give the model the "
        "same LoRA layers before `load_weights`",
        GH + "ARahim3/mlx-tune/commit/f4a98d63d9f51cd809febbcbced6a1f1e45f7e79"),
    KnownError(
        "untied_head_in_checkpoint",
        r"Received \d+ parameters not in model(?:[^\n]*\n){0,64}?[^\n]*\blm_head\.weight\b",
        "the checkpoint holds an output head, `lm_head.weight`, that the model does not have: "
        "a model built with its head tied to the input embedding (`tie_word_embeddings`: "
        "logits from `embed_tokens.as_linear(h)`) is loading a checkpoint exported with the "
        "head written out explicitly (Hugging Face exports do)",
        "drop the head's key where the model ties it, in the model's `sanitize` before "
        "`load_weights`: `if self.args.tie_word_embeddings: weights.pop(\"lm_head.weight\", "
        "None)`; or build the model untied when the checkpoint's head differs from its "
        "embedding",
        GH + "ml-explore/mlx-examples/commit/595f5da146bbf305b14fe18d343fe2777aa8a1ba"),
    KnownError(
        "weights_not_in_model",
        r"Received \d+ parameters not in model",
        "the checkpoint holds parameters the model does not have: quantized weights "
        "(`.scales`, `.biases`) loaded into an unquantized model, or keys with another prefix",
        "`nn.quantize(model, group_size, bits)` before `model.load_weights(path)`, or rename "
        "the keys to the model's `tree_flatten(model.parameters())` names",
        GH + "Blaizzy/nativ/issues/69"),
    KnownError(
        "weights_missing",
        r"Missing \d+ parameters:\s*([\w.]*\w)",
        "the model has parameters the checkpoint lacks (`{0}` the first of them): an output "
        "head tied to the input embedding in the checkpoint (`tie_word_embeddings`) but "
        "built as its own `lm_head` in the model, a layer the checkpoint's config does not "
        "have, keys saved under another prefix, or a copy of the weights kept in memory (an "
        "EMA shadow, a best-weights backup) taken before a layer was added to the model",
        "build the model from the checkpoint's own config (a tied head has no `lm_head`: "
        "`logits = model.embed_tokens.as_linear(h)`); add a new layer's missing parameters to "
        "an in-memory copy when the layer is added (`shadow[k] = mx.array(v)` for each key "
        "not in it); `model.load_weights(path, strict=False)` only for parameters meant to "
        "start fresh",
        GH + "ml-explore/mlx-lm/issues/648"),
    KnownError(
        "weight_shape",
        r"Expected shape \([\d, ]*\) but received shape \([\d, ]*\) for parameter",
        "a checkpoint's parameter has another layout or size than the model's: PyTorch conv "
        "weights are (out, in, k), MLX's (out, k, in); or the model was built from another "
        "config",
        "`w = w.transpose(0, 2, 1)` for conv weights from PyTorch, or build the model from "
        "the checkpoint's own config", GH + "ml-explore/mlx-examples/issues/1064"),
    KnownError(
        "compiled_function_copied",
        r"cannot pickle 'function' object",
        "an object holding an MLX compiled function was deep-copied or pickled (`copy."
        "deepcopy(model)`, a process pool's arguments): MLX's own activations (`nn.silu`, "
        "`nn.gelu`, `nn.gelu_approx`, ...) and anything made by `mx.compile` are compiled "
        "function objects, which cannot be pickled, so a layer that keeps one as an "
        "attribute (`self.activation = nn.silu`) makes the whole model uncopyable",
        "keep activations as modules (`self.activation = nn.SiLU()`), or build a second "
        "model and copy the weights in instead of deep-copying: `student = Model(args); "
        "student.update(tree_map(mx.array, model.parameters()))`",
        GH + "ml-explore/mlx-lm/commit/2bfa6a65bee657499a7aaef27896fde186f2a422"),
    KnownError(
        "digit_keys_for_a_list",
        r'Module does not have (?:sub-module|parameter) named "\d+"',
        "`update_modules(...)` (or `update(...)`) got a dict keyed by position strings "
        "('0', '1') where the model keeps its blocks in a list: a tree built by hand from "
        "dotted module paths ('layers.1.attn.proj') makes every level a dict, and MLX looks "
        "the key '1' up in the list",
        "let `tree_unflatten` build the tree, which makes lists of the numeric levels: "
        "`model.update_modules(tree_unflatten(list(replacements.items())))` with "
        "`replacements = {'layers.1.attn.proj': new_layer, ...}` (as mlx_lm's fuse does), or "
        "assign in place, `parent[int(k)] = new_layer` for a digit part",
        GH + "peterlodri-sec/MLX-QUANT/commit/08f8724c86436d9473c5fe8148a038abf7b1f303"),
    KnownError(
        "flat_keys_to_update",
        r'Module does not have parameter named "\w+\.[\w.]+"',
        "`model.update(...)` got `tree_flatten`'s dotted keys ('layers.0.weight'): it takes "
        "the nested tree (dicts and lists) that `model.parameters()` returns",
        "rebuild the nested tree first: `model.update(tree_unflatten(list(new.items())))` "
        "(`from mlx.utils import tree_unflatten`)", GH + "ml-explore/mlx/issues/2233"),
    KnownError(
        "dict_iterated_as_leaves",
        r"can't multiply sequence by non-int of type 'str'",
        "a loop meant to visit a tree's arrays visits a dict's string keys (iterating `grads`, "
        "or `tree_map(...)` of it, yields its keys, not its arrays), so two strings are "
        "multiplied",
        "iterate the leaves, `sum((g * g).sum() for _, g in tree_flatten(grads))`, or clip "
        "with MLX's own `optim.clip_grad_norm(grads, max_norm)`",
        GH + "moyuan5989/mlx-forge/commit/a19aefbce7524747d3afaa92f297301907e2aa9c"),
    KnownError(
        "row_indexed_by_position",
        r"KeyError: \d+$",
        "a mapping was indexed by position: an item is a dict (a raw dataset row such as "
        "{'prompt': ..., 'completion': ...}) where the code expects a sequence (the "
        "(tokens, offset) pair a tokenized dataset gives the length-sorting batcher)",
        "tokenize (preprocess) the rows before batching: wrap the dataset so `__getitem__` "
        "returns the encoded pair (mlx-lm's `CacheDataset(dataset)` over `process(row)`), or "
        "index the row by its key", GH + "MakazhanAlpamys/Soup/pull/362"),
    KnownError(
        "list_indexed_as_array",
        r"TypeError: list indices must be integers or slices, not (NoneType|tuple)",
        "a Python list was indexed like an array (`x[None]` adds an axis, `x[:, i]` takes a "
        "column only on an array): a value that should be an `mx.array` is still the list it "
        "was made as (a tokenizer's `encode`, `.tolist()`, a list of rows or of arrays)",
        "convert it where it is made: `prompt = mx.array(tokenizer.encode(text))`, or "
        "`x = mx.array(rows)` / `mx.stack(arrays)` before indexing it",
        GH + "ml-explore/mlx-examples/pull/282"),
    KnownError(
        "module_through_transform",
        r"'dict' object (?:has no attribute '(?:trainable_parameters|parameters|update|freeze|"
        r"unfreeze|apply|train|eval|load_weights|children|modules)'|is not callable)",
        "an `nn.Module` was passed as an argument through `mx.compile` (or another "
        "transformation), which flattens its arguments as trees: inside, the model arrives "
        "as a plain dict of arrays",
        "close over the model and declare its state instead of passing it: `state = "
        "[model.state, optimizer.state]; step = partial(mx.compile, inputs=state, "
        "outputs=state)(step)` with `step(x, y)` using `model` from its scope",
        GH + "ml-explore/mlx/issues/1388"),
    KnownError(
        "missing_adapter_parameter",
        r"Module does not have parameter named \"?lora_[abAB]\b",
        "adapter weights (`lora_a`/`lora_b`) were handed to a layer that is a plain Linear "
        "here: the adapters were trained with LoRA on more modules (or more layers) than "
        "this script wraps, often the attention's q/k/v/o_proj and the MLP's gate_proj, "
        "up_proj and down_proj where a fuse or load script wraps only q_proj and v_proj",
        "wrap the same target modules of the same layers as training did before loading or "
        "fusing, `layer.self_attn.k_proj = LoRALinear.from_linear(layer.self_attn.k_proj)` "
        "for each, read from the adapter file's own keys (or its adapter_config.json); with "
        "the extra keys skipped, the fused model silently loses those adapters",
        GH + "mitmul/mlx-plamo/commit/b2c3e03226fcf5b72dd20e9af4ba738ed52a8abc"),
    KnownError(
        "missing_parameter",
        r"Module does not have parameter named",
        "`model.update(...)` (or `load_weights`) got a name the module does not have: the "
        "tree of parameters does not match the model's",
        "build updates from the model's own tree: `model.update(tree_map(f, "
        "model.parameters()))`", GH + "ml-explore/mlx/issues/2233"),
    KnownError(
        "module_not_initialised",
        r"'(\w+)' object has no attribute '_(?:no_grad|training)'",
        "`{0}.__init__` never called `super().__init__()`: the layers it stores are there, "
        "but `nn.Module`'s own bookkeeping (`_no_grad`, `_training`) is not, so "
        "`trainable_parameters()`, `freeze()` and `value_and_grad` fail on it",
        "call `super().__init__()` first in every `nn.Module` subclass's `__init__`",
        GH + "ml-explore/mlx/issues/1393"),
    KnownError(
        "empty_path",
        r"FileNotFoundError: \[Errno 2\] No such file or directory: ''",
        "a file operation got an empty path: `os.path.dirname` of a bare file name (a "
        "checkpoint or adapter saved into the working directory, `model.npz`) is `''`, and "
        "`os.makedirs('')` or `open('')` raises",
        "`os.makedirs(os.path.dirname(path) or '.', exist_ok=True)` before saving the "
        "checkpoint (or make the directory only when the path has one)",
        GH + "menzHSE/mlx-cifar-10-cnn/commit/d09c838cbda267a205558e23fd5e57bc844b9590"),
    KnownError(
        "pil_float_image",
        r"Cannot handle this data type: \(1, 1, \d+\), [<>|]?[fi]\d",
        "PIL's `Image.fromarray` got a colour image as floats (an image kept as float32 in "
        "[0, 1] for the model, then handed to PIL for an augmentation or a save): PIL builds "
        "colour images from uint8 only",
        "`Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))`, and back for the "
        "model with `np.asarray(pil_image, dtype=np.float32) / 255`",
        GH + "koogle/mlx-playground/commit/9c288a9ea343ce8f3a59500d9ff4cf11ef4c5623"),
    KnownError(
        "sliced_dict",
        r"KeyError: slice\(|TypeError: unhashable type: 'slice'",  # Python >= 3.12 | older
        "a dict was sliced where a list was meant: an `nn.Module` is a dict of its children, "
        "so a model part that holds its blocks one level down (`model.layers` a decoder "
        "module whose list is `model.layers.layers`, the nested layers) raises on "
        "`model.layers[-n:]`, as does a dict of layers",
        "slice the list itself: `model.layers.layers[-n:]` (or `list(d.values())[-n:]`)",
        GH + "mitmul/mlx-plamo/commit/38e5d75ab6033d2d855b93dce36d802f0e6cac1e"),
    KnownError(
        "module_torch_method",
        r"'(\w+)' object has no attribute '(?:state_dict|load_state_dict|named_parameters|"
        r"named_modules|zero_grad|register_buffer|requires_grad_|cuda)'",
        "PyTorch's `nn.Module` API was called on an MLX module (`{0}`): MLX modules have no "
        "state dict, `named_parameters`, `zero_grad`, `register_buffer` or `.cuda()`",
        "copy weights with `target.update(source.parameters())` (MLX arrays are immutable: "
        "the copy keeps its values when the source trains on), save and load them with "
        "`model.save_weights(path)` / `model.load_weights(path)`; a flat dict of names is "
        "`dict(tree_flatten(model.parameters()))`; gradients are new at each step (nothing to "
        "zero); a buffer is a public attribute kept out of training with "
        "`self.freeze(keys=[...], recurse=False)`",
        GH + "ml-explore/mlx/issues/930"),
    KnownError(
        "array_attribute",
        r"'(?:mlx\.core\.)?array' object has no attribute '(\w+)'",
        "an `mx.array` was used like a PyTorch tensor or a NumPy array: it has no `{0}`",
        "`np.array(x)` for `.numpy()`/`__array__`, `mx.stop_gradient(x)` for `.detach()`, "
        "`x.reshape(...)` for `.view(...)`, `x.shape` for `.size()`, `mx.expand_dims(x, 0)` "
        "for `.unsqueeze(0)`; gradients come from `nn.value_and_grad(model, loss_fn)`, not "
        "`loss.backward()`, and arrays need no `.cpu()`/`.to(device)`",
        GH + "ml-explore/mlx-examples/issues/259"),
    KnownError(
        "gather_float_indices",
        r"\[gather\] Got indices with invalid dtype",
        "float values were used as indices: token ids built as floats, hidden states "
        "fed to an `nn.Embedding`, or an integer index table stored on a module (a buffer) "
        "that the optimizer updated as a parameter: any update, weight decay included, "
        "makes it float32 at the first step",
        "`tokens = tokens.astype(mx.int32)` before the embedding or the indexing; for a "
        "module's index table, `model.freeze(keys=['table'], strict=True)` or keep it under a "
        "name starting with `_` (not a parameter)",
        GH + "exo-explore/exo/issues/133"),
    KnownError(
        "item_of_array",
        r"\[convert\] Only length-1 arrays can be converted to Python scalars",
        "`.item()` or `float()` was called on an array with more than one element, most "
        "often a loss left unreduced (`reduction='none'`)",
        "`loss = loss.mean()` inside the loss function, then `loss.item()`",
        GH + "ml-explore/mlx/pull/1360"),
    KnownError(
        "grad_of_non_scalar",
        r"\[vjp\] Output shape \([\d,]*\) does not (match )?cotangent shape",
        "the function given to `grad`/`value_and_grad` returns an array that is not a "
        "scalar: a per-example loss, or a loss of shape (1,)",
        "`return nn.losses.cross_entropy(logits, y, reduction='mean')` (or `loss.mean()`, "
        "`loss.squeeze()`)", GH + "ml-explore/mlx/issues/2169"),
    KnownError(
        "grad_returns_non_array",
        r"\[value_and_grad\] The return value of the function whose gradient",
        "the loss function returns something other than an array first: a Python float "
        "(`.item()` inside it), a dict or a string",
        "`return loss, aux` with `loss` an `mx.array` scalar; call `.item()` outside",
        GH + "ml-explore/mlx/issues/487"),
    KnownError(
        "grad_keyword_call",
        r"Can't compute the gradient of argument index \d+ because the function is called "
        r"with only \d+ positional",
        "the function made by `value_and_grad`/`grad` was called with keyword arguments; "
        "gradients are taken with respect to positional arguments (`argnums`) only",
        "call it positionally: `loss, grads = loss_and_grad(model, x, y)`, or set `argnums=` "
        "to the positions to differentiate", GH + "ml-explore/mlx/pull/1081"),
    KnownError(
        "grad_nothing_trainable",
        r"\[grad\] Must specify at least one argument",
        "there was nothing to differentiate: `nn.value_and_grad(model, ...)` found no "
        "trainable parameter (the whole model frozen, or LoRA/unfreeze applied to a path "
        "that does not exist, such as adapter targets that match no layer's name: targets "
        "given as dotted paths, `self_attn.q_proj`, where the code compares each module's "
        "last name, `q_proj`, or the other way round; or targets named for separate "
        "projections, `q_proj`/`v_proj`, on a model whose attention has one fused "
        "projection, `qkv_proj` (Phi-3), `c_attn` (GPT-2), `query_key_value` (Falcon): "
        "list the model's own linear names; or a hand-written LoRA walk over "
        "`module.children()` that never reaches the layers: MLX holds stacked blocks in a "
        "plain Python list, whose nn.Module items a walk must recurse into; or a walk that "
        "matches `isinstance(m, nn.Linear)` over a model already quantized: `nn.quantize` "
        "makes each layer an `nn.QuantizedLinear`, not a subclass of `nn.Linear`; or a "
        "reference or teacher model given as `ref_model=model.freeze()`: `freeze()` freezes "
        "in place and returns the same object, so the model you train is frozen too)",
        "unfreeze or adapt the real layers, `model.unfreeze(keys=[...])` (targets compared "
        "like with like: `{t.split('.')[-1] for t in target_modules}` against each module's "
        "last name; a LoRA walk: recurse into each nn.Module of a list child, or go over "
        "`model.named_modules()`; a QLoRA walk: accept `nn.QuantizedLinear` too; a "
        "reference model: a separate instance, loaded again, then frozen), and check "
        "`tree_flatten(model.trainable_parameters())` is "
        "not empty",
        GH + "ml-explore/mlx-examples/pull/940"),
    KnownError(
        "learning_rate_not_array",
        r"'(float|int)' object has no attribute 'astype'",
        "a learning rate or schedule gave a Python number where the optimizer expects an "
        "`mx.array`: a hand-written schedule called with the step returns a {0}",
        "return an array from the schedule, `return mx.array(lr)`, or compose MLX's own: "
        "`optim.join_schedules([optim.linear_schedule(...), optim.cosine_decay(...)], [n])`",
        GH + "SceneWorks/SceneWorks/pull/138"),
    KnownError(
        "number_read_as_array",
        r"'(int|float)' object has no attribute '(item|tolist)'",
        "a value meant to be an `mx.array` is still a Python {0} when `.{1}()` reads it: an "
        "accumulator reset to a number (a running loss or token count, `total = 0`) that "
        "nothing was added to since, an empty window (a log forced right after a regular "
        "one, an epoch or a pass of zero steps), or a value already converted by `.item()`",
        "skip the read when nothing was accumulated, `if steps_since_log == 0: return`, or "
        "keep the accumulator an array from the start, `total = mx.array(0.0)`",
        GH + "unslothai/unsloth-zoo/commit/ed717c983b3abba83ac613f3083ebeac5e80c110"),
    KnownError(
        "non_array_argument",
        r"\[tree_flatten\] The argument should contain only arrays",
        "a function under `grad`/`value_and_grad`/`compile` got something that is not a "
        "tree of arrays among the arguments it differentiates: a Python number, None, a "
        "string, or an object (a plain class holding networks, an optimizer, a policy)",
        "differentiate a module or its parameters, `nn.value_and_grad(policy.net, loss_fn)` "
        "(an `nn.Module` is a tree of arrays), `mx.array(x)` for numbers, or pass "
        "non-arrays through a closure or `functools.partial`",
        GH + "ml-explore/mlx/issues/3774"),
    KnownError(
        "vjp_not_implemented",
        r"\[Primitive::vjp\] Not implemented for (\w+)",
        "the loss differentiates through an op that has no gradient: {0} (argmax, argsort, "
        "linalg inverses and factorizations have none)",
        "keep such ops out of the gradient path, `idx = mx.stop_gradient(mx.argmax(s, "
        "axis=-1))`, or rewrite with differentiable ops (`mx.softmax` for argmax, a "
        "Cholesky-factor parameterization instead of `mx.linalg.inv`)",
        GH + "ml-explore/mlx/issues/1427"),
    KnownError(
        "jvp_not_implemented",
        r"\[Primitive::jvp\] Not implemented for (\w+)",
        "forward-mode differentiation (`mx.jvp`) reached an op without a JVP rule: {0}",
        "use reverse mode: `mx.vjp(fn, [x], [v])` or `mx.value_and_grad(fn)`",
        GH + "ml-explore/mlx/issues/1771"),
    KnownError(
        "reshape_size",
        r"\[reshape\] Cannot reshape array of size \d+ into shape",
        "an array's size does not fit the shape asked for: a last batch shorter than the "
        "batch size, or a head/width setting that does not divide the data",
        "reshape with the array's own sizes, `x.reshape(x.shape[0], x.shape[1], -1)`, or "
        "drop the short last batch", GH + "mzbac/mlx_sharding/issues/5"),
    KnownError(
        "matmul_inner_dim",
        r"\[(matmul|addmm)\] Last dimension of first input with shape .* must match second "
        r"to last dimension",
        "a layer got inputs whose last axis is not its input width: a wrong flatten, the "
        "features on another axis, a piece lost before a concatenate (`mx.split` takes split "
        "points, not sizes: `mx.split(x, [27, 15], axis=-1)` leaves an empty middle piece "
        "when the second point is below the first), or a layer built for another size",
        "`x = x.reshape(x.shape[0], -1)` before the layer and `nn.Linear(x.shape[-1], out)`; "
        "split by points, `a, b = mx.split(x, [n_a], axis=-1)`, and check each piece's "
        "shape",
        GH + "ml-explore/mlx/issues/213"),
    KnownError(
        "integer_matmul",
        r"Only inexact types are supported",
        "integer arrays (NumPy's default int64 data) reached a matmul or a Linear layer",
        "`x = mx.array(x_np, dtype=mx.float32)` (or `x.astype(mx.float32)`)",
        GH + "ml-explore/mlx/issues/376"),
    KnownError(
        "has_aux",
        r"unexpected keyword argument 'has_aux'|Invoked with types: [^\n]*has_aux",
        "`has_aux=` is JAX's: MLX's value_and_grad has no such argument; it differentiates the "
        "first output of a function that returns several and hands the others back",
        "`loss_and_grad = nn.value_and_grad(model, loss_fn)` with `loss_fn` returning "
        "`(loss, aux)`; then `(loss, aux), grads = loss_and_grad(model, x)`",
        GH + "Doriandarko/MLX-GRPO/commit/0a83ad7ba7f93f0c96a11c6c00268e86384a3445"),
    KnownError(
        "transform_of_an_array",
        r"(?:value_and_grad|grad|vjp|jvp|vmap|checkpoint)\(\): incompatible function arguments",
        "a function transformation got arguments it does not take, most often an array: "
        "`mx.grad` and `mx.value_and_grad` take the loss function (a callable) and return a "
        "function that computes the gradients; a loss already computed (PyTorch's "
        "`loss.backward()` habit) has no graph left to differentiate",
        "`loss_and_grad = nn.value_and_grad(model, loss_fn)`, then each step `loss, grads = "
        "loss_and_grad(model, x, y)`", GH + "ml-explore/mlx/issues/605"),
    KnownError(
        "array_at_set",
        r"'ArrayAt' object has no attribute '(\w+)'",
        "`x.at[idx]` in MLX has add, subtract, multiply, divide, maximum and minimum, not "
        "`{0}` (JAX's `.at[...].set`)",
        "assign into the array, `x[idx] = value` (MLX arrays take slice assignment), or build "
        "it, `x = mx.where(mask, value, x)`",
        GH + "TortoiseHam/fastmlx/commit/f9bef738ab491939ca096951c7804abdf79e257b"),
    KnownError(
        "features_given_to_encoding",
        r"\[broadcast_shapes\] Shapes \(([\d,]+)\) and \(\1,\d+\)|"
        r"\[broadcast_shapes\] Shapes \(([\d,]+),\d+\) and \(\2\)",
        "one array has one more axis at the end than the other: a layer that adds a feature "
        "axis to what it is given (a positional encoding such as "
        "`nn.SinusoidalPositionalEncoding`, an `nn.Embedding`, a one-hot) was given an array "
        "that already has its features (the hidden states) instead of integer positions or "
        "token ids; or, since broadcasting aligns the last axes, per-example values (B,) "
        "met rows (B, K) at their K axis: a per-sample timestep `t`, weight or mask times "
        "features, or predicted class indices compared with one-hot or smoothed targets (an "
        "accuracy)",
        "give a per-sample value its trailing axis, `t[:, None] * x` (`t.reshape(-1, 1)`); "
        "compare class indices with class indices, `mx.argmax(logits, axis=-1) == "
        "mx.argmax(targets, axis=-1)` for one-hot targets; give an encoding the positions, "
        "not the features, `x = x + self.pos(mx.arange(x.shape[1]))`",
        GH + "ml-explore/mlx/issues/147"),
    KnownError(
        "number_as_string",
        r"(?:unsupported operand type\(s\) for [^:]+:|not supported between instances of) "
        r"(?:'str' and '(?:str|int|float)'|'(?:int|float)' and 'str')|"
        r"can't multiply sequence by non-int of type 'float'|"
        r"can only concatenate str \(not \"(?:int|float)\"\) to str",
        "a number arrived as a string: most often a hyperparameter read from a config or the "
        "command line (PyYAML, a YAML 1.1 reader, reads `3e-3` or `1e-5` without a dot as a "
        "string; `argparse` without `type=float`; an environment variable), handed on to an "
        "optimizer or a schedule",
        "convert every number a config gives: `lr = float(cfg['learning_rate'])`, "
        "`args = [float(a) for a in cfg['arguments']]`; in YAML write `3.0e-3` (a dot and a "
        "signed exponent); `add_argument('--lr', type=float)`", GH + "yaml/pyyaml/issues/173"),
    KnownError(
        "shortcut_channels",
        r"\[broadcast_shapes\] Shapes \((\d+,\d+,\d+(?:,\d+)?),(\d+)\) and \(\1,(?!\2\))\d+\)",
        "two feature maps (4-D or 5-D, channels last as MLX's convolutions hold them) agree "
        "on every axis but their channels: most often a residual or skip connection adds a "
        "block's input to its output when the block changes the channel count (`identity + "
        "x` with in_dims != out_dims), or a U-Net skip is added where its widths differ",
        "project the shortcut when the widths differ: `self.project = nn.Conv2d(in_dims, "
        "out_dims, kernel_size=1)` and `x = self.project(identity) + x` (identity only when "
        "in_dims == out_dims), or concatenate skips on the channel axis, `mx.concatenate([a, "
        "b], axis=-1)`",
        GH + "TonyTheTaiga/mlx-models/commit/a6227cf8a25aa10286758c957b6cfaf35838c4b4"),
    KnownError(
        "broadcast_shapes",
        r"\[broadcast_shapes\] Shapes .* cannot be broadcast",
        "two arrays disagree on an axis: a shape that only worked at batch size 1, targets "
        "of another shape than the predictions, or a mask of the wrong length",
        "compare `pred.shape` and `y.shape`; `y = y.reshape(pred.shape)` or build the mask "
        "from the batch's own length", GH + "ml-explore/mlx-examples/pull/1135"),
    KnownError(
        "loss_leading_axis",
        r"Targets shape \((\d+)[,)].* does not match logits shape \((?!\1[,)])\d+",
        "the logits' first axis is not the batch the targets hold (the two shapes' first "
        "numbers differ): the logits were reduced, stacked or transposed over the wrong "
        "axis, e.g. a time-major (time, batch, classes) output summed over axis=1 (the "
        "batch) instead of axis=0 (time), or per-step outputs stacked on axis 0 then read "
        "as batch-major",
        "reduce or stack over the axis the layout names: `logits = out.sum(axis=0)` for "
        "(time, batch, classes), or `mx.stack(steps, axis=1)`; check `logits.shape[0] == "
        "y.shape[0]`",
        GH + "trevin-creator/autoresearch-mlx/commit/4615e2d855c9731068f2e666dc6963ec7dc16de6"),
    KnownError(
        "rows_without_fields",
        r"(?i)requires? .{0,80}['\"]\w+['\"].{0,80}\b(?:columns?|fields?|keys?)\b.{0,40}\bgot\b"
        r"|Unsupported data format",
        "the dataset's rows do not carry the fields the batch builder reads (prompt / chosen "
        "/ rejected, text, messages, prompt / completion): a formatting function meant to map "
        "the raw rows was kept but never applied before batching, or the data names its "
        "fields otherwise",
        "map each raw row before building batches, `rows = [formatting_func(r) for r in "
        "dataset]` (pass the trainer's formatting function on to the batch builder), or "
        "rename the fields (mlx-lm: `prompt_feature`, `completion_feature`, `text_feature`)",
        GH + "unslothai/unsloth-zoo/commit/61c5829a8c7d63f737ac4553f40880d15958e425"),
    KnownError(
        "loss_one_position",
        r"Targets shape \((\d+), (?!1\))\d+\) does not match logits shape \(\1, 1, \d+\)",
        "the logits hold one position per sequence while the targets hold every position: "
        "the model's output was cut to the last position (`h[:, -1:]`, `h[:, T - 1:T]`, a "
        "slice copied from the generation path, where only the next token is needed) before "
        "a training loss that scores every token",
        "in the training path compute the logits at every position, `logits = "
        "self.output(self.norm(h))`, and keep the last-position slice for generation only",
        GH + "armbues/SiLLM/commit/5b97ee042f05b3f9e607cf0c81154cd7fdb5de27"),
    KnownError(
        "loss_shapes",
        r"(?:Targets|Predictions|Inputs) shape \(.*\) does not match (?:logits|targets) "
        r"shape",
        "a loss in `nn.losses` got targets of another shape than its predictions: class "
        "indices must have the logits' shape without the class axis ((batch,) for (batch, "
        "classes)), one-hot or probability targets the logits' own shape; regression "
        "targets (batch,) against predictions (batch, 1)",
        "`nn.losses.cross_entropy(logits, y)` with `y.shape == logits.shape[:-1]` (integer "
        "class ids); for mse or bce `y = y.reshape(pred.shape)`",
        GH + "ml-explore/mlx/pull/517"),
    KnownError(
        "concatenate_shapes",
        r"\[concatenate\] All the input array",
        "arrays of different shapes were joined: sequences of different lengths in one "
        "batch",
        "pad every sequence to the batch's longest before joining: `mx.pad(x, [(0, 0), "
        "(0, n - x.shape[1])])`", GH + "ml-explore/mlx/issues/542"),
    KnownError(
        "squeeze_index_past_end",
        r"\[squeeze\] Cannot squeeze axis \d+ with size 0",
        "an integer index at or past the end of an axis, beside a slice (`a[i, :n]`): MLX "
        "checks no bounds, takes the empty slice `a[i:i + 1]` and cannot squeeze it; most "
        "often a batch that lost rows (empty ones filtered out before `mx.stack`) indexed "
        "with the lengths or indices still kept for every row",
        "keep one row per item, padding the empty ones (`mx.zeros((0,))` padded to the "
        "batch's length) instead of dropping them, or drop their lengths and indices with "
        "them; check `i < a.shape[0]` where the index comes from another list (seen also in "
        "https://github.com/teilomillet/textpolicy/commit/"
        "2ce96c7ea1f086fdda81e084a6263fc4bc908687)",
        GH + "ml-explore/mlx/issues/2130"),
    KnownError(
        "path_object_to_weights",
        r"'(?:Posix|Windows)Path' object (?:has no attribute 'endswith'|is not iterable)",
        "a `pathlib.Path` was handed to `save_weights`/`load_weights`, which take the file "
        "as a string (they test its suffix with `str.endswith`; `load_weights` also takes "
        "a list of (name, array) pairs, so a path object is iterated)",
        "`model.save_weights(str(path))`, `model.load_weights(str(path))` (seen also in "
        "https://github.com/jiemingyou/mario-rl-mlx/commit/"
        "3beed92cc2e3e5d63e1abc6af4b531fd1e64c5d5)",
        GH + "ml-explore/mlx/issues/2522"),
    KnownError(
        "stack_shapes",
        r"\[stack\] All arrays must have the same shape",
        "arrays of different shapes were stacked into one batch: examples of different "
        "lengths, or a per-example item whose count varies (one image's grid or boxes "
        "against two; a `squeeze()` or an index that drops a size-1 axis from the "
        "one-item examples only also leaves arrays of different ranks)",
        "pad them to one shape before `mx.stack`; join items whose count varies per "
        "example along their first axis, `mx.concatenate(items, axis=0)` (shape (total, "
        "...)), keeping each example's count, and never squeeze an axis whose size can be "
        "1 when collating",
        GH + "Blaizzy/mlx-vlm/commit/61990c9054f2bc7bb8f32541e3238b4a58fe64e5"),
    KnownError(
        "array_to_json",
        r"Object of type array is not JSON serializable",
        "an MLX array reached `json.dump`/`json.dumps`, which writes Python numbers only: an "
        "optimizer's `learning_rate` (MLX optimizers keep it as an array in their state), a "
        "loss or a metric never `.item()`'d",
        "`float(optimizer.learning_rate)`, `loss.item()`; `x.tolist()` for an array of "
        "several values",
        GH + "parkerdgabel/bert-playground/commit/13ae48400f4845c359117078e6979653d727eadc"),
    KnownError(
        "ragged_batch",
        r"Initialization encountered non-uniform length",
        "a ragged Python list (sequences of different lengths) was turned into an array",
        "pad to one length first: `mx.array([s + [pad_id] * (n - len(s)) for s in batch])`",
        GH + "ml-explore/mlx/issues/939"),
    KnownError(
        "negative_pad",
        r"Invalid (?:low|high) padding size \((-\d+)\) passed to pad",
        "`mx.pad` was asked to pad by {0}: the length padded to is shorter than the array, so "
        "two fields of one example disagree in length (one was rebuilt after the other's "
        "length was taken: a loop variable that rebinds the name of the array the length came "
        "from, or a truncation applied to one field only)",
        "pad every field to its own longest: `n = max(x.shape[0] for x in field)`, and check "
        "`assert len(tokens) == len(mask)` where the example is built",
        GH + "sethdford/csm-mlx/commit/327f7e2c0cc1aa7f91034b4a14d73098bf850597"),
    KnownError(
        "boolean_index",
        r"boolean indices are not yet supported",
        "an MLX array was indexed with a boolean mask (NumPy's and PyTorch's `x[mask]`): MLX "
        "does not select a data-dependent number of elements, its shapes are known before "
        "the graph runs",
        "keep the shape and weight by the mask: `mx.where(mask, x, 0.0)`, a masked mean as "
        "`(x * mask).sum() / mask.sum()`, a masked std from those two moments",
        GH + "ml-explore/mlx/issues/860"),
    KnownError(
        "index_type",
        r"Cannot index mlx array using the given type",
        "an MLX array was indexed with a type MLX does not take as an index: a NumPy array or "
        "NumPy integer (`x[np.arange(n), labels]`), or a list mixed with arrays",
        "index with MLX arrays or Python ints: `x[mx.arange(n), mx.array(labels)]`, or gather "
        "with `mx.take_along_axis(x, labels[:, None], axis=-1)`",
        GH + "ml-explore/mlx/issues/2710"),
    KnownError(
        "scalar_unpacked",
        r"iter\(\) 0-dimensional array",
        "a 0-d array (one number, such as a scalar loss) was unpacked or iterated as if it "
        "were a tuple: a loss function returns one value where the caller unpacks two "
        "(`(loss, ntoks), grads = loss_and_grad(...)`), or a loop runs over a scalar",
        "unpack what the function returns: `loss, grads = loss_and_grad(model, x, y)`, or "
        "return the pair from the loss function: `return loss, ntoks`",
        GH + "ml-explore/mlx/issues/4423"),
    KnownError(
        "tree_utility_in_core",
        r"module 'mlx\.core' has no attribute '(tree_\w+|utils)'",
        "`mx.{0}` does not exist: MLX's tree utilities (tree_map, tree_flatten, "
        "tree_unflatten, tree_reduce) live in the module `mlx.utils`, which `mlx.core` does "
        "not hold (JAX's `jax.tree_map` spelling; `mx.utils.tree_map` reads it through "
        "`mlx.core`)",
        "`from mlx.utils import tree_map`, then `acc = tree_map(lambda a, b: a + b, acc, grads)`",
        GH + "JamesQFreeman/mlx-vit-tune/commit/a46fffab3e99f0e93021cdc2c64e342d3cef4449"),
    KnownError(
        "group_as_number",
        r"Cannot perform \w+ on an mlx\.core\.array and mlx\.core\.distributed\.Group",
        "a distributed group (what `mx.distributed.init()` returns) was used as a number: "
        "the count of processes is its `size()`, so an all-reduce divided by the group "
        "object raises even in a single process",
        "`world = mx.distributed.init(); N = world.size(); grads = tree_map(lambda g: "
        "mx.distributed.all_sum(g) / N, grads)`", GH + "ml-explore/mlx/pull/1731"),
    KnownError(
        "operand_type",
        r"Cannot perform \w+ on an mlx\.core\.array and ([\w.]+)",
        "an array was combined in arithmetic with a {0} object, which MLX's operators do not "
        "take: most often a generator expression whose `sum(` was dropped (`l2 = (mx.sum(p * "
        "p) for p in params)`), or a list or dict where one array was meant",
        "reduce it to one array first: `l2 = sum(mx.sum(p * p) for _, p in "
        "tree_flatten(model.parameters()))`, or `mx.array(values)` for a list",
        GH + "koogle/mlx-playground/commit/e4e8492f18202ff579bec6a2626feab209ddd3ec"),
    KnownError(
        "quantize_group_size",
        r"\[quantize\] The last dimension of the matrix needs to be divisible",
        "a layer's width is not a multiple of the quantization group size",
        "`nn.quantize(model, group_size=64, class_predicate=lambda p, m: isinstance(m, "
        "nn.Linear) and m.weight.shape[-1] % 64 == 0)`", GH + "ml-explore/mlx/issues/1033"),
    KnownError(
        "bfloat16_to_numpy",
        r"PEP 3118 buffer format string",
        "a bfloat16 `mx.array` was turned into a NumPy array (`np.array(x)`, a metric or a "
        "plot computed in NumPy, `np.save`): NumPy has no bfloat16",
        "cast first: `np.array(x.astype(mx.float32))`",
        GH + "ml-explore/mlx/issues/3974"),
    KnownError(
        "compile_non_array_argument",
        r"\[compile\] Function arguments must be trees of arrays or constants",
        "a function under `mx.compile` was called with an argument that is neither an array "
        "nor a number, string or None (a NumPy array, a model or optimizer object, a "
        "generator)",
        "pass arrays (`mx.array(x_np)`); reach the model and optimizer through the closure "
        "and name their state: `partial(mx.compile, inputs=state, outputs=state)(step)`",
        GH + "ml-explore/mlx/pull/745"),
    KnownError(
        "view_as_reshape",
        r"view\(\): incompatible function arguments[^\n]*\n(?:.*\n)*?\s*Invoked with types: "
        r"mlx\.core\.array(?:, int)+",
        "`x.view(...)` was given a shape: MLX's `view(dtype)` reinterprets an array's bytes as "
        "another dtype and takes no shape; PyTorch's `view(-1, 1)` is `reshape` in MLX",
        "`x.reshape(-1, 1)` (or `x[:, None]`)",
        GH + "mlx-graphs/mlx-graphs/commit/264fa5feff27481de3002d63e53d3bc5cf360ef4"),
    KnownError(
        "transpose_two_axes",
        r"transpose\(\): incompatible function arguments[^\n]*\n(?:.*\n)*?\s*Invoked with "
        r"types: mlx\.core\.array(?:, int){2,}",
        "`mx.transpose` was given axes one by one, PyTorch's way (`torch.transpose(x, -1, 0)` "
        "swaps two axes): MLX's `mx.transpose(a, axes)` takes the whole permutation as one "
        "sequence",
        "move one axis with `mx.moveaxis(x, -1, 0)` (channels first), swap two with "
        "`mx.swapaxes(x, 0, 1)`, or give every axis: `mx.transpose(x, (2, 0, 1))`",
        GH + "piljoong-jeong/nerf_meets_mlx/commit/55e886c9e352da4802378c3afb61c701fb3bba73"),
    KnownError(
        "tree_for_array",
        r"(\w+)\(\): incompatible function arguments[^\n]*\n(?:.*\n)*?\s*Invoked with types: "
        r"[^\n]*\bdict\b",
        "MLX's `{0}()` was given a dict, a tree of arrays (the gradients or parameters "
        "`nn.value_and_grad` and `model.parameters()` give), where it takes one array: MLX's "
        "array ops do not walk trees (`mx.flatten` reshapes an array; it does not list a tree's "
        "leaves)",
        "walk the tree with `mlx.utils`: `from mlx.utils import tree_flatten`, then `sum((g * "
        "g).sum() for _, g in tree_flatten(grads))`, or `tree_map(fn, grads)` for a tree back",
        GH + "williamzebrowskI/sml-mlx/commit/7e8665963215bc2bcb65eda0b7c60a7fcca74fd0"),
    KnownError(
        "module_method_given_model",
        r"Module\.(\w+)\(\) takes \d+ positional arguments? but \d+ were given",
        "an `nn.Module` method, `{0}()`, was called with an argument it does not take: "
        "`parameters()`, `trainable_parameters()` and `freeze()` are methods of the model "
        "itself and take no model, and the optimizer wants the model, not its parameters",
        "`optimizer.update(model, grads)` (it reads the trainable parameters itself); "
        "`model.trainable_parameters()` with no argument where the tree is needed",
        GH + "Blaizzy/mlx-vlm/commit/e580cf4cb669d21bb8eea2381534d8a24ad3c5ee"),
    KnownError(
        "none_operand",
        r"(\w+)\(\): incompatible function arguments[^\n]*\n(?:.*\n)*?\s*Invoked with types: "
        r"[^\n]*\bNoneType\b",
        "MLX's `{0}()` was given None: a value that is None on this path, most often an "
        "optional output (an auxiliary or load-balance loss, a cache, a mask) that a module "
        "returns as None unless it is asked for, or an optional input that was not passed",
        "use it only where it is there: `if aux_loss is not None: total = total + aux_loss` "
        "(or guard the sum with the flag that asks for it, `if return_aux_loss:`)",
        GH + "andresnowak/Mixture-of-Experts-mlx/commit/f04330e2b4a559862b6775411ac8912f8b50b003"),
    KnownError(
        "array_for_number",
        r"(\w+)\(\): incompatible function arguments[^\n]*\n(?:.*\n)*?\s*Invoked with types: "
        r"mlx\.core\.array(?:, mlx\.core\.array)*\s*(?:\n|$)",
        "MLX's `{0}()` was given only `mx.array`s and takes none there: it wants a Python "
        "number (a length, a count, a size, a shape, an axis), and a 0-d array from a "
        "reduction (`t.max()`, `mask.sum()`) is not one",
        "convert it first: `mx.arange(int(t.max().item()))`; keep sizes as Python ints",
        GH + "lucasnewman/f5-tts-mlx/commit/e0bae964882bb5df8d15c036bdc037cb4b8713d1"),
    KnownError(
        "save_takes_one_array",
        r"\bsave\(\): incompatible function arguments",
        "`mx.save()` writes one array (a .npy file); it was given a dict or tree of arrays "
        "(a checkpoint state, adapters, `model.parameters()`), as `**state` or whole",
        "save a dict of arrays with `mx.save_safetensors(path, dict(tree_flatten(state)))` "
        "(or `mx.savez(path, **flat)`) and read it back with `mx.load(path)`",
        GH + "armbues/SiLLM/commit/8a2322ad9a98977627faf77a3676d7fdfe3f6463"),
    KnownError(
        "list_not_arrays",
        r"\b(stack|concatenate|meshgrid|broadcast_arrays)\(\): incompatible function "
        r"arguments[^\n]*\n(?:.*\n)*?\s*Invoked with types: list\b",
        "the list handed to MLX's `{0}()` holds something that is not an `mx.array`: Python "
        "numbers (values read with `.item()`), NumPy arrays, or dicts and lists (the sub-trees "
        "of a nested parameter tree: `model.parameters()[key]` is a layer's dict, not one "
        "array)",
        "make every item an array: `mx.stack([mx.array(v) for v in values])`; for parameter "
        "trees flatten them first, `flat = [dict(tree_flatten(p)) for p in trees]`, then "
        "`mx.stack([f[k] for f in flat])` per key (or `tree_map(lambda *xs: "
        "mx.mean(mx.stack(xs), axis=0), *trees)` to average whole trees)",
        GH + "Mathews-Tom/EfficientAI-MLX-Toolkit/commit/"
        "f319689cd4c8a02ae942bc5116b0fa8838555d8d"),
    KnownError(
        "incompatible_arguments",
        r"(\w+)\(\): incompatible function arguments",
        "MLX's `{0}()` got an argument of a type it does not take: a Python number or list "
        "where it wants an `mx.array`, a string dtype such as 'float32', a NumPy value or "
        "None where a shape or an MLX dtype is expected",
        "match the signature printed under the error: `mx.array(x)` for numbers and lists, "
        "`x.astype(mx.float32)` with an MLX dtype",
        GH + "ml-explore/mlx/issues/1094"),
    KnownError(
        "load_failed_to_open",
        r"\[load(?:_safetensors|_gguf)?\] Failed to open file",
        "a weights or checkpoint file could not be opened: a wrong path (relative to another "
        "working directory), a file never written (a save that did not run), or a download "
        "that did not finish",
        "check `os.path.exists(path)` before `mx.load(path)` / `model.load_weights(path)`, "
        "and save with the same path you load from",
        GH + "ml-explore/mlx-lm/issues/251"),
    KnownError(
        "dataset_split_empty",
        r"(?:Training|Test) set not found or empty",
        "mlx-lm's data loader found no training (or test) rows: the `--data` folder holds no "
        "`train.jsonl` (a wrong path: the data was written somewhere else), or the file is "
        "empty because the split that wrote it rounded a small set down to 0 rows (integer "
        "division first: `len(rows) // 10 * 8` is 0 below 10 rows)",
        "point `--data` at the folder that holds `train.jsonl` and `valid.jsonl`; compute a "
        "split's size by multiplying before dividing, with at least one row: `n_train = "
        "max(1, len(rows) * 8 // 10)`",
        GH + "ml-explore/mlx-examples/issues/597"),
    KnownError(
        "quantized_float_weights",
        r"\[quantized_matmul\] The weight matrix should be uint32",
        "a quantized layer holds float weights: float (unquantized) weights were loaded into "
        "a model already turned quantized by `nn.quantize`, or a quantized checkpoint into a "
        "float model: the load and the quantize run in the wrong order",
        "load the float weights first, then quantize: `model.load_weights(path); "
        "nn.quantize(model)`; a quantized checkpoint goes into a model quantized with its "
        "own group_size/bits before `load_weights`",
        GH + "priontific/MLX-text-completion-notebook/issues/1"),
    KnownError(
        "quantized_weights_grad",
        r"no gradient wrt the quantized weights",
        "the gradient was asked for with respect to a quantized layer's packed weights: "
        "`mx.value_and_grad(loss_fn)(model, ...)` differentiates every leaf of the model it "
        "is handed, the frozen quantized base included, and a quantized matmul has no "
        "gradient for its packed weights (QLoRA trains only the adapters)",
        "`loss_and_grad = nn.value_and_grad(model, loss_fn)`: it differentiates only "
        "`model.trainable_parameters()`; freeze the quantized base first (`model.freeze()`, "
        "then attach or unfreeze the adapters)",
        GH + "menonpg/art-mlx/commit/ac4c5c33ad76f74cb81b95a04aa8d1f98d734e13"),
    KnownError(
        "rows_past_dataset",
        r"Index \d+ out of range for dataset of size \d+",
        "a dataset was indexed or subset past its last row: a count of optimizer steps used "
        "as a count of rows (`dataset.select(range(iters))` with iters = batches per epoch "
        "times epochs, larger than the data set once epochs exceed the batch size), or an "
        "index of another split",
        "subset by rows, never by steps: drop the `select(range(iters))` and let the batch "
        "iterator cycle over the data until `iters` steps, or "
        "`dataset.select(range(min(n, len(dataset))))`",
        GH + "Blaizzy/mlx-vlm/commit/f8b17febb9c02b1f6c69802e78345f0300610a6e"),
    KnownError(
        "ids_as_dict",
        r"argument must be a string, a bytes-like object or a real number, not 'dict'",
        "a row of token ids is a dict: a tokenizer call that returns a BatchEncoding "
        "(`apply_chat_template` under transformers 5 returns a dict of input_ids and "
        "attention_mask unless told `return_dict=False`; `tokenizer(text)` returns one "
        "too) used where a list of ids is wanted, so its length is the number of keys",
        "`ids = tokenizer.apply_chat_template(messages, return_dict=False)`, or "
        "`tokenizer(text)['input_ids']`",
        GH + "ml-explore/mlx-lm/commit/cd9ca9f06884b31e6521bcd468810565863de1db"),
    KnownError(
        "ragged_rows",
        r"setting an array element with a sequence",
        "a row handed to NumPy is a nested or ragged list: token lists of different lengths "
        "put into one array without padding, or a list of lists where one flat list of ids "
        "is wanted (the whole batch encoded inside a per-example comprehension, "
        "`[tokenizer.encode(dataset[j]) for j in batch]` as one example's sequence)",
        "encode one example per row, `ids = tokenizer.encode(dataset[j])`, and pad every row "
        "to the batch width before building the array: `batch = np.zeros((len(rows), "
        "width), np.int32); batch[j, :len(ids)] = ids`",
        GH + "ml-explore/mlx-examples/commit/71d9f8cc38020118bd384328ee530e17746600f6"),
    KnownError(
        "partition_kth",
        r"\[(?:arg)?partition\] Received invalid kth",
        "`kth` of `mx.argpartition`/`mx.partition` must index the axis (0 <= kth < its size): "
        "a top-k written `argpartition(-x, kth=k)[..., :k]` asks for the element one past "
        "the k wanted and fails once k equals the axis length (a router picking every "
        "expert, a top-k over a short row)",
        "`idx = mx.argpartition(-x, kth=k - 1, axis=-1)[..., :k]`: the first k positions are "
        "the k largest with kth=k - 1",
        GH + "ml-explore/mlx-examples/issues/671"),
    KnownError(
        "vjp_of_indices",
        r"Cannot calculate VJP with respect to indices",
        "the gradient reaches integer indices, which have none: indices computed from the "
        "model (`mx.argsort`/`mx.argpartition`, a top-k routing, a group index) used in a "
        "gather, `take_along_axis` or `put_along_axis`; or integer token ids passed as the "
        "argument mx.value_and_grad/mx.grad differentiates (argnums=0, the first positional "
        "argument, by default); or a layer that stops the gradient to its routing indices "
        "only in training mode (`if self.training: idx = mx.stop_gradient(idx)` before "
        "`mx.gather_mm`), run in eval mode: a `model.eval()` for a validation pass with no "
        "`model.train()` before the training steps",
        "wrap computed indices: `idx = mx.stop_gradient(mx.argpartition(-scores, kth=k - 1, "
        "axis=-1)[..., :k])` and take the gradient through the gathered scores; call "
        "`model.train()` before training (after any `model.eval()`); differentiate "
        "the parameters, not the ids: `mx.value_and_grad(loss_fn, argnums=1)` for "
        "`loss_fn(tokens, params)`, or put the parameters first",
        GH + "ml-explore/mlx-lm/issues/287"),
    KnownError(
        "bad_cast",
        r"std::bad_cast",
        "an `mx.array` was given where MLX wants a Python int or list (a shape built from "
        "array values), or `mx.savez`/`mx.save_safetensors` was given something other than "
        "a flat dict of arrays (a Python list, or a nested tree such as `optimizer.state`)",
        "`x.reshape(int(n), -1)`; save a tree flattened: `mx.savez(path, "
        "**dict(tree_flatten(optimizer.state)))` (`from mlx.utils import tree_flatten`)",
        GH + "Blaizzy/mlx-vlm/issues/1981"),
    KnownError(
        "int64_scatter_gpu",
        r"\[Scatter::eval_gpu\] Does not support int64",
        "an int64 array was scattered on the GPU",
        "`values = values.astype(mx.int32)` before the `.at[...]` update",
        GH + "ml-explore/mlx/issues/1076"),
    KnownError(
        "float64_on_gpu",
        r"float64 is not supported on the GPU",
        "an array is float64 (NumPy's default float, kept by `mx.array(np_array)`), and the "
        "GPU has no float64",
        "make it float32 where it enters: `mx.array(x, dtype=mx.float32)` or "
        "`x.astype(np.float32)`; keep float64 work on `stream=mx.cpu`",
        GH + "ml-explore/mlx-swift/issues/269"),
    KnownError(
        "gpu_not_implemented",
        r"\[\w+::eval_gpu\] .*(NYI|not yet supported)",
        "this op (a `mx.linalg` factorization or inverse) has no GPU kernel",
        "run it on the CPU stream: `mx.linalg.inv(a, stream=mx.cpu)`",
        GH + "ml-explore/mlx/issues/1238"),
    KnownError(
        "cuda_out_of_memory",
        r"cudaMalloc(Managed|Async)?\(?.*\)? failed: (out of memory|an illegal memory access)",
        "the GPU ran out of device memory",
        "lower the batch or sequence length, keep Python floats across steps "
        "(`loss.item()`) and " + EVAL_STATE + " every step",
        GH + "ml-explore/mlx/issues/2821", "cuda_out_of_memory"),
    KnownError(
        "metal_gpu_timeout",
        r"Caused GPU Timeout Error|kIOGPUCommandBufferCallbackErrorTimeout",
        "one command buffer ran past macOS's GPU watchdog: a single evaluation did too much "
        "work, usually a graph never evaluated across many steps, or one huge op",
        "evaluate every step, " + EVAL_STATE + ", and split huge batches or sequences",
        GH + "ml-explore/mlx/issues/1231", "metal_gpu_timeout"),
    KnownError(
        "metal_out_of_memory",
        r"Insufficient Memory|kIOGPUCommandBufferCallbackErrorOutOfMemory",
        "the GPU ran out of memory during a command buffer",
        "lower the batch or sequence length, keep Python floats across steps, and cap MLX's "
        "cache: `mx.set_cache_limit(...)`; compare `mx.get_peak_memory()` with "
        "`mx.device_info()['max_recommended_working_set_size']`",
        GH + "ml-explore/mlx/pull/479", "metal_out_of_memory"),
    KnownError(
        "metal_resource_limit",
        r"Resource limit \(\d+\) exceeded",
        "too many live Metal buffers at once (macOS's per-process limit, 499000 by default): "
        "something keeps many small arrays alive, such as a list of per-step arrays or a "
        "graph never evaluated",
        "keep Python floats (`loss.item()`), `mx.clear_cache()` between phases, and "
        + EVAL_STATE + " every step", GH + "ml-explore/mlx/issues/1712",
        "metal_resource_limit"),
    KnownError(
        "metal_buffer_too_large",
        r"greater than the maximum allowed buffer size",
        "one array is larger than the largest Metal buffer this machine allows",
        "split the batch or sequence (`for chunk in mx.split(x, 4)`), or look for a shape "
        "that exploded (a broadcast that should not be)",
        GH + "lmstudio-ai/lmstudio-bug-tracker/issues/2240",
        "metal_buffer_too_large"),
    KnownError(
        "metal_info_missing",
        r"KeyError: '(max_recommended_working_set_size|memory_size|max_buffer_length|"
        r"resource_limit)'",
        "a Metal-only key ({0}) was read from the device's info on a machine without Metal "
        "(a CPU or CUDA backend): `mx.metal.device_info()` is an empty dict there and "
        "`mx.device_info()` lacks the key",
        "`if mx.metal.is_available(): mx.set_wired_limit(mx.device_info()"
        "['max_recommended_working_set_size'])`, or read it with `.get(key)` and skip what "
        "needs it",
        GH + "ml-explore/mlx-lm/pull/241"),
    KnownError(
        "metal_wired_limit",
        r"\[metal::set_wired_limit\]|wired limit larger|wired memory",
        "the wired-memory limit asked for is larger than macOS allows this process",
        "`mx.set_wired_limit(mx.device_info()['max_recommended_working_set_size'])`, or "
        "raise the system's limit: `sudo sysctl iogpu.wired_limit_mb=N`",
        GH + "osaurus-ai/vmlx-swift/pull/417", "metal_wired_limit"),
    KnownError(
        "metal_internal_error",
        r"Command buffer execution failed: Internal Error",
        "a Metal command buffer failed with an internal error; with large batches this is "
        "the GPU watchdog ending a command buffer that ran too long",
        "decrease the batch size or sequence length, and " + EVAL_STATE + " every step",
        GH + "ml-explore/mlx/issues/1335", "metal_internal_error"),
    KnownError(
        "metal_command_buffer",
        r"\[METAL\] Command buffer execution failed",
        "a Metal command buffer failed (the reason follows `execution failed:` in stderr)",
        "read the reason in stderr_tail; GPU timeouts and out-of-memory are the usual ones: "
        "smaller batches and " + EVAL_STATE + " every step",
        GH + "ml-explore/mlx/pull/479", "metal_command_buffer"),
    # last: the more particular entries above (an `nn.Module` method given the model) win
    KnownError(
        "values_spread",
        r"([\w.]+)\(\) takes (?:from \d+ to )?\d+ positional arguments? but \d+ were given",
        "`{0}()` was handed more positional values than it takes: values meant as one "
        "argument (a crop box, a shape, a size, a pair) passed spread out instead of as one "
        "tuple, values for keyword parameters passed by position, or an argument too many "
        "for its signature (the instance passed again to a method, an argument it no longer "
        "takes)",
        "pack the values that belong together into one tuple, `img.crop((left, top, right, "
        "bottom))`, `mx.zeros((n, d))`; pass optional ones by name, `f(x, mask=mask)`; else "
        "drop the extra argument",
        GH + "ml-explore/mlx-examples/commit/8c3b25f88c1ad0b7771723f651a5e77b4c141878"),
)


def find(text: str) -> KnownError | None:
    """The first table entry whose pattern occurs in `text`, or None."""
    for entry in TABLE:
        if re.search(entry.pattern, text):
            return entry
    return None


def crash_entries() -> tuple[KnownError, ...]:
    """The entries that name a crash after themselves (GPU aborts)."""
    return tuple(entry for entry in TABLE if entry.crash)


def evidence(kind: str, message: str) -> dict:
    """What a crash's evidence says of a known error: its table name and its issue."""
    entry = find(f"{kind}: {message}")
    return {"known_error": entry.name, "known_error_source": entry.source} if entry else {}
