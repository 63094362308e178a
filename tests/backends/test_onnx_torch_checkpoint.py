"""A torchvision-layout state_dict loads by name into the library's resnet18, and the ONNX
export reproduces that PyTorch model's outputs.

torchvision itself is not a test dependency: the model below is torchvision's ResNet-18
module tree written out (same attribute names, so the same state_dict keys).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx  # noqa: F401
import onnxruntime  # noqa: F401
import torch

nn = torch.nn


class BasicBlock(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.downsample = None
        if stride != 1 or cin != c:
            self.downsample = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, c in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_torchvision_state_dict_by_name(tmp_path):
    torch.manual_seed(0)
    model = ResNet18()
    with torch.no_grad():  # non-trivial running statistics, so BN is really exercised
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    torch.save(model.state_dict(), tmp_path / "resnet18.pth")
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()

    for opt in ("-O0", "-O1"):
        out = tmp_path / f"r18{opt}.onnx"
        proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "compile", "resnet18", "--input-shape",
                               "3x64x64", "-o", str(out), "--weights", str(tmp_path / "resnet18.pth"), opt],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "run", str(out), "--input",
                               str(tmp_path / "x.npy"), "-o", str(tmp_path / f"y{opt}.npy")],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_allclose(np.load(tmp_path / f"y{opt}.npy"), want, rtol=1e-4, atol=1e-4)
