"""The neural-tangents side of plugins/kernels/benchmarks/vs_neural_tangents.py, run by ITS OWN interpreter (a separate
virtual environment with jax; nothing of hyperzoo is imported here). Reads a request (JSON on argv[1]), writes a JSON
line with the kernel's time and where requested the kernel itself (.npy)."""

import json
import sys
import time

req = json.loads(sys.argv[1])
import jax  # noqa: E402

if req.get("x64"):
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

x = jnp.asarray(np.load(req["x"]))
out = {}
if req["what"] == "analytic":
    vw, vb, depth = req["weight_variance"], req["bias_variance"], req["depth"]
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(1, W_std=vw ** 0.5, b_std=vb ** 0.5 if vb else None), stax.Relu()]
    layers += [stax.Dense(1, W_std=vw ** 0.5, b_std=vb ** 0.5 if vb else None)]
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    block = req.get("block", x.shape[0])
    kernel_fn(x[:block], x, get="ntk").block_until_ready()            # compile (not timed)
    times = []
    for _ in range(req.get("repeats", 1)):
        t0 = time.perf_counter()
        res = [kernel_fn(x[s:s + block], x, get="ntk").block_until_ready() for s in range(0, x.shape[0], block)]
        times.append(time.perf_counter() - t0)
    out["seconds"] = times
    if req.get("save"):
        np.save(req["save"], np.asarray(jnp.concatenate(res)))
elif req["what"] == "empirical":
    from jax import random

    dense = lambda n: stax.Dense(n, parameterization="standard")  # noqa: E731  (x W + b, as torch.nn.Linear)
    init, apply, _ = stax.serial(dense(512), stax.Relu(), dense(512), stax.Relu(), dense(1))
    _, params = init(random.PRNGKey(0), x.shape)
    w = np.load(req["weights"])        # the torch model's weights: W = weightᵀ, b = bias, layers 0, 2, 4
    params = [(jnp.asarray(w[f"w{i}"]), jnp.asarray(w[f"b{i}"])) if p else p for i, p in enumerate(params)]
    fn = jax.jit(nt.empirical_ntk_fn(apply, trace_axes=(), vmap_axes=0,
                                     implementation=nt.NtkImplementation[req["implementation"]]))
    fn(x, None, params).block_until_ready()
    times = []
    for _ in range(req.get("repeats", 1)):
        t0 = time.perf_counter()
        k = fn(x, None, params).block_until_ready()
        times.append(time.perf_counter() - t0)
    out["seconds"] = times
    if req.get("save"):
        np.save(req["save"], np.asarray(k).reshape(x.shape[0], x.shape[0]))
print(json.dumps(out))
