"""`--convention torchinfo|fvcore|ptflops|thop`: each tool's rules by hand, then against the tools themselves.

The hand-computed test needs nothing installed. The oracle tests run the real packages (the
`dev` extra pins the versions the rules follow) on the generated PyTorch module, which
uses torchvision's module types (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, ...).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import subprocess
import sys
import warnings

import pytest

import cnndsl

NET = """
network Net(num_classes=5) (image: f32[N, 3, 16, 16]) {
    conv(8, kernel=3, padding=1) as conv1
    bn as bn1
    relu as relu1
    maxpool(kernel=2, stride=2) as pool1
    conv(16, kernel=3, padding=1, bias=false) as conv2
    bn as bn2
    relu6 as act2
    gap as gap
    flatten as flat
    linear(num_classes) as fc
}
"""

# Hand counts per batch item.
# conv1: out 8x16x16 = 2048 elements; MACs 2048 * 3*9 = 55,296; params 8*27 + 8 = 224
# bn1 on 2048 elements (16 params); relu1 2048; pool1 in 2048 -> out 8x8x8 = 512
# conv2: out 16x8x8 = 1024; MACs 1024 * 8*9 = 73,728; params 1152; bn2 on 1024 (32 params); act2 1024
# gap: in 1024 -> out 16 (kernel area 64); fc: 16 -> 5, MACs 80, params 85
MACS = 55_296 + 73_728 + 80
HAND = {
    # weight/bias numel * output positions for convs; other modules their weight+bias numel
    "torchinfo": 224 * 256 + 1152 * 64 + 16 + 32 + 85,
    # MACs + batch-norm 2 per element + adaptive average pool 1 per input element
    "fvcore": MACS + 2 * 2048 + 2 * 1024 + 1024,
    # MACs + conv bias 2048 + linear bias 5 + BN 2 per element + relu 2x (module + F.relu) + relu6 1x
    # + pools 2x their input (module + functional)
    "ptflops": MACS + 2048 + 5 + 2 * 2048 + 2 * 1024 + 2 * 2048 + 1024 + 2 * 2048 + 2 * 1024,
    # conv without bias, BN 4 per element (2, doubled for affine), gap (64 + 1) per output, linear in*out
    "thop": MACS + 4 * 2048 + 4 * 1024 + 65 * 16,
}


@pytest.mark.parametrize("tool", sorted(HAND))
def test_rules_by_hand(tool):
    m = cnndsl.load_text(NET, "net.cnn")
    rep = m.report(convention=tool)
    assert rep["totals"]["compare"]["per_item"] == HAND[tool]
    assert rep["totals"]["compare"]["tool"] == tool
    assert sum(row["compare"] for row in rep["layers"]) == HAND[tool]
    batch = cnndsl.load_text(NET, "net.cnn", batch=4).report(convention=tool)["totals"]["compare"]
    assert batch["per_item"] == HAND[tool] and batch["for_batch"] == 4 * HAND[tool]


def test_unknown_convention_is_an_error():
    m = cnndsl.load_text(NET, "net.cnn")
    with pytest.raises(cnndsl.CnnError):
        m.report(convention="flopth")
    proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "report", "resnet18", "--convention", "x"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ the tools themselves
def _tool_figure(tool: str, net, shape: tuple[int, ...]) -> int:
    import torch

    x = torch.randn(*shape)
    net = net.eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if tool == "torchinfo":
            import torchinfo

            return int(torchinfo.summary(net, input_size=shape, verbose=0).total_mult_adds)
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            fca = FlopCountAnalysis(net, x)
            fca.unsupported_ops_warnings(False)
            fca.uncalled_modules_warnings(False)
            return int(fca.total())
        if tool == "ptflops":
            import ptflops

            macs, _params = ptflops.get_model_complexity_info(net, tuple(shape[1:]), as_strings=False,
                                                              print_per_layer_stat=False, backend="pytorch")
            return int(macs) * shape[0]  # ptflops reports per item
        import thop

        ops, _params = thop.profile(net, inputs=(x,), verbose=False)
        return int(ops)


CASES = [("net", NET, (2, 3, 16, 16)), ("resnet18", None, (1, 3, 64, 64)), ("mobilenet_v2", None, (1, 3, 64, 64))]


@pytest.mark.parametrize("tool", sorted(HAND))
@pytest.mark.parametrize("name,text,shape", CASES, ids=[c[0] for c in CASES])
def test_against_the_tool(tool, name, text, shape):
    import torch  # noqa: F401
    importlib.import_module({"fvcore": "fvcore.nn"}.get(tool, tool))  # a dev dependency: missing fails
    if text is not None:
        m = cnndsl.load_text(text, "net.cnn", batch=shape[0], input_shape=shape[1:])
    else:
        m = cnndsl.load(name, batch=shape[0], input_shape=shape[1:])
    ours = m.report(convention=tool)["totals"]["compare"]["for_batch"]
    assert ours == _tool_figure(tool, m.to_torch(), shape)


@pytest.mark.parametrize("tool", sorted(HAND))
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_documented_figures_at_224(tool, name):
    """The table in docs/reports.md, measured with the tools at 1x3x224x224."""
    import torch  # noqa: F401
    importlib.import_module({"fvcore": "fvcore.nn"}.get(tool, tool))  # a dev dependency: missing fails
    documented = {
        ("resnet50", "torchinfo"): 4_089_238_376, ("resnet50", "fvcore"): 4_111_512_576,
        ("resnet50", "ptflops"): 4_132_436_968, ("resnet50", "thop"): 4_133_742_592,
        ("mobilenet_v2", "torchinfo"): 300_809_384, ("mobilenet_v2", "fvcore"): 314_193_216,
        ("mobilenet_v2", "ptflops"): 320_362_728, ("mobilenet_v2", "thop"): 327_550_720,
    }[(name, tool)]
    m = cnndsl.load(name, batch=1)
    assert m.report(convention=tool)["totals"]["compare"]["per_item"] == documented
    assert _tool_figure(tool, m.to_torch(), (1, 3, 224, 224)) == documented
