"""Memory estimates a report states beside the counts: inference peak and training, per optimizer.

The model (docs/reports.md, "Memory"):

    weights      = 4 * (params + buffers)                       float32 everywhere
    gradients    = 4 * params                                   one per trainable element
    optimizer    = SGD with momentum: 4 * params (the momentum buffer)
                   Adam / AdamW: 8 * params (exp_avg and exp_avg_sq)
    activations  = batch * sum of every tensor's bytes per item (graph inputs and every layer
                   output), i.e. autograd keeps each layer's output (or an input of the same size)
                   for the backward pass; no activation checkpointing, no in-place savings, no
                   allocator overhead, no CUDA context, no temporary workspace
    training     = weights + gradients + optimizer + activations
    inference    = weights + batch * peak live activations (the `memory` pass's liveness peak)

These are lower bounds of what a framework allocates, good for comparing networks and batch
sizes, not for predicting an out-of-memory error to the megabyte.
"""

from __future__ import annotations

from typing import Any

BYTES = 4  # float32
MB = 10**6  # reports print MB as 10^6 bytes (torchinfo's unit)
OPTIMIZERS = {"sgd_momentum": 1, "adam": 2}  # float32 state tensors per trainable element

ASSUMPTIONS = ("float32 weights, gradients and optimizer state; activations = every layer output kept for "
               "backward (no checkpointing, no in-place savings); no allocator or framework overhead")


def memory_estimates(totals: dict[str, Any], batch: int) -> dict[str, Any]:
    """Bytes of weights, gradients, optimizer state and activations at `batch`, and the sums."""
    params, buffers = int(totals["params"]), int(totals["buffers"])
    weights = BYTES * (params + buffers)
    grads = BYTES * params
    activations = batch * int(totals["memory"])
    peak = totals.get("peak_memory")
    out: dict[str, Any] = {
        "batch": batch,
        "weights_bytes": weights,
        "gradients_bytes": grads,
        "activations_bytes": activations,
        "inference_peak_bytes": None if peak is None else weights + batch * int(peak),
        "training_bytes": {},
        "optimizer_bytes": {},
        "assumptions": ASSUMPTIONS,
    }
    for name, states in OPTIMIZERS.items():
        state = BYTES * states * params
        out["optimizer_bytes"][name] = state
        out["training_bytes"][name] = weights + grads + state + activations
    return out


def mb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / MB:,.2f} MB"
