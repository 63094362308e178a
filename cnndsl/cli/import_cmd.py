"""`cnndsl import MODEL.onnx|FILE.py:factory -o NET.cnn [--weights NET.npz]`: lift a model into `.cnn`."""

from __future__ import annotations

import argparse

HELP = ("lift an ONNX model (or a PyTorch module, through torch.onnx) into a readable .cnn file, "
        "blocks and loops recovered, and its weights")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cnndsl.cli.common import add_force_argument

    p.add_argument("model", metavar="MODEL.onnx|FILE.py:factory",
                   help="an ONNX file (opset 11+, external data beside it), or a Python file and the function "
                        "or nn.Module class in it that builds the model")
    p.add_argument("-o", "--output", required=True, metavar="NET.cnn", help="where to write the .cnn file")
    p.add_argument("--weights", metavar="NET.npz",
                   help="also write the model's weights, keyed <node>.<param> as the .cnn names them")
    p.add_argument("--network", metavar="NAME", help="the network's name in the .cnn (default: from the model)")
    p.add_argument("--input-shape", metavar="CxHxW",
                   help="FILE.py:factory only: the input shape without the batch, e.g. 3x224x224")
    add_force_argument(p)


def run(args: argparse.Namespace) -> int:
    from cnndsl.cli.common import parse_input_shape
    from cnndsl.diagnostics import CnnError
    from cnndsl.importer import import_onnx, import_torch
    from cnndsl.output import check_destination, write_file
    from cnndsl.weights import save_npz

    if not args.output.endswith(".cnn"):
        raise CnnError(f"-o {args.output}: the output is a .cnn file")
    if args.weights and not args.weights.endswith(".npz"):
        raise CnnError(f"--weights {args.weights}: the weights file is an .npz")
    check_destination(args.output, force=args.force)  # before any work
    if args.weights:
        check_destination(args.weights, force=args.force)
    shape = parse_input_shape(args.input_shape)
    if ":" in args.model and args.model.rpartition(":")[0].endswith(".py"):
        result = import_torch(args.model, shape, args.network)
    else:
        if shape is not None:
            raise CnnError("--input-shape applies to FILE.py:factory; an ONNX model has its own input shape")
        result = import_onnx(args.model, args.network)
    if args.weights:
        save_npz(args.weights, result.weights, force=args.force)
    write_file(args.output, result.text, force=args.force)
    n_values = sum(int(a.size) for k, a in result.weights.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {args.output} (network {result.network}, {result.text.count(chr(10))} lines, "
          f"{len(result.graph) - len(result.graph.input_names)} nodes)")
    if args.weights:
        print(f"wrote {args.weights} ({len(result.weights)} tensors, {n_values:,} values)")
    return 0
