"""Passes over the Graph IR, one per module, registered in one visible list.

Analyses annotate `node.meta` (`shape`, `params`, `macs`, `flops`, `memory`, `rf`);
transformations rewrite a copy of the graph and keep its outputs numerically equal.
"""

from cnndsl.passes import dce, fold_bn, fuse_conv_act, macs, memory, params, remove_noops, rf, shapes
from cnndsl.passes.manager import (
    ANALYSES,
    CLEANUPS,
    INFERENCE,
    PASSES,
    Convention,
    Pass,
    PassContext,
    PassError,
    PassResult,
    PipelineResult,
    annotate,
    get_pass,
    register_pass,
    run_passes,
    run_pipeline,
    run_standard,
)

for _pass in (
    shapes.SHAPES,
    params.PARAMS,
    macs.MACS,
    memory.MEMORY,
    rf.RF,
    remove_noops.REMOVE_NOOPS,
    fold_bn.FOLD_BN,
    fuse_conv_act.FUSE_CONV_ACT,
    dce.DCE,
):
    if _pass.name not in PASSES:
        register_pass(_pass)

__all__ = ["ANALYSES", "CLEANUPS", "INFERENCE", "PASSES", "Convention", "Pass", "PassContext", "PassError",
           "PassResult", "PipelineResult", "annotate", "get_pass", "run_passes", "run_pipeline", "run_standard"]
