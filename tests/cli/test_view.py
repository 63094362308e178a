"""`cnndsl view`: the page's data (against the report), its self-containment, and the page in a real
headless Chromium (Debian's package, driven by Playwright; skipped only when no Chromium is installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from cnndsl.cli.main import main
from cnndsl.model import load
from cnndsl.passes.manager import annotate
from cnndsl.view.data import view_data
from cnndsl.view.page import render_page, script_json


def _data(name: str) -> dict:
    model = load(name)
    return view_data(annotate(model.graph), model.report())


def test_resnet50_opens_as_its_stages():
    data = _data("resnet50")
    roots = [c["path"] for c in data["clusters"] if c["parent"] is None]
    assert roots == ["layer1", "layer2", "layer3", "layer4"]
    assert [c["kind"] for c in data["clusters"] if c["parent"] is None] == ["ResLayer"] * 4
    # torchvision's Bottleneck counts per stage (3, 4, 6, 3)
    blocks = [c for c in data["clusters"] if c["depth"] == 1]
    root_ids = [c["id"] for c in data["clusters"] if c["parent"] is None]
    assert [sum(1 for b in blocks if b["parent"] == r) for r in root_ids] == [3, 4, 6, 3]
    assert {b["kind"] for b in blocks} == {"Bottleneck"}
    top_nodes = [n["name"] for n in data["nodes"] if n["cluster"] is None]
    assert top_nodes[:5] == ["image", "conv1", "bn1", "relu", "maxpool"] and top_nodes[-1] == "fc"
    # block totals add up to the report's (torchvision resnet50: 25,557,032 parameters)
    assert data["totals"]["params"] == 25_557_032
    top_params = sum(n["params"] for n in data["nodes"] if n["cluster"] is None)
    assert top_params + sum(c["params"] for c in data["clusters"] if c["parent"] is None) == 25_557_032
    assert sum(n["macs"] for n in data["nodes"]) == data["totals"]["macs"]
    conv2 = next(n for n in data["nodes"] if n["name"] == "layer3.2.conv2")
    assert conv2["shape"] == "[N, 256, 14, 14]" and conv2["params"] == 256 * 256 * 9
    assert conv2["category"] == "conv" and conv2["attrs"]["kernel"] == "(3, 3)"
    line = data["sources"][conv2["span"]["file"]][conv2["span"]["line"] - 1]
    assert "conv(width, kernel=3" in line


def test_sharing_is_in_the_page_data():
    src = Path(__file__).resolve().parents[2] / "architectures" / "retinanet.cnn"
    model = load(str(src), network="RetinaNet")
    data = view_data(annotate(model.graph), model.report())
    shared = data["totals"]["shared"]
    assert shared and all(s["applications"] == 5 for s in shared)  # one head over five pyramid levels
    assert any("shared" in n for n in data["nodes"])


def test_script_json_cannot_close_the_script_element():
    text = script_json({"name": "</script><script>alert(1)</script>", "x": "<!-- \u2028"})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "x": "<!-- \u2028"}


def test_page_is_self_contained(tmp_path):
    out = tmp_path / "lenet.html"
    assert main(["view", "lenet5", "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page loads nothing from the network"
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "default-src 'none'" in html  # and its CSP forbids trying
    blob = re.search(r'<script type="application/json" id="view-data">(.*?)</script>', html, re.DOTALL).group(1)
    data = json.loads(blob)
    assert [n["op"] for n in data["nodes"]][:3] == ["input", "conv", "tanh"]
    # a second run replaces the page cnndsl wrote; a file it did not write needs --force
    assert main(["view", "lenet5", "-o", str(out)]) == 0
    other = tmp_path / "mine.html"
    other.write_text("<p>mine</p>")
    assert main(["view", "lenet5", "-o", str(other)]) == 2
    assert other.read_text() == "<p>mine</p>"


def test_bad_network_is_a_positioned_error(tmp_path, capsys):
    assert main(["view", "resnet5O", "-o", str(tmp_path / "x.html")]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def _chromium() -> str | None:
    for name in (os.environ.get("CNNDSL_CHROMIUM"), "chromium", "chromium-browser", "chromium-headless-shell",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium installed (apt-get install chromium); the page was not opened in a browser")
    from playwright.sync_api import sync_playwright  # a dev dependency: missing, the test fails

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


def test_page_in_headless_chromium(browser, tmp_path):
    out = tmp_path / "resnet50.html"
    assert main(["view", "resnet50", "-o", str(out)]) == 0
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:"))
            else None)
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)

    # ResNet-50 opens as its stages: 4 collapsed blocks, not 175 nodes
    assert page.locator("#viewport .cluster.closed").count() == 4
    assert page.locator("#viewport .node").count() == 8
    assert page.locator("#viewport [data-name='layer1.0.conv1']").count() == 0
    assert "25,557,032" in page.inner_text("#totals")

    # expanding a block shows its children (layer1: three Bottlenecks)
    page.click("#viewport [data-path='layer1']")
    children = page.locator("#viewport .cluster.closed[data-path^='layer1.']")
    assert sorted(children.evaluate_all("els => els.map(e => e.dataset.path)")) == ["layer1.0", "layer1.1", "layer1.2"]
    assert "ResLayer" in page.inner_text("#details")
    page.click("#viewport [data-path='layer1.0']")
    assert page.locator("#viewport [data-name='layer1.0.conv1']").count() == 1

    # searching a node name finds it: its blocks open, it is selected, its details and source line are shown
    page.fill("#search", "layer3.2.conv2")
    assert page.locator("#results li[data-key]").first.inner_text().startswith("layer3.2.conv2")
    page.keyboard.press("Enter")
    node = page.locator("#viewport .node[data-name='layer3.2.conv2']")
    assert node.count() == 1 and "selected" in node.get_attribute("class")
    details = page.inner_text("#details")
    assert "589,824" in details and "[N, 256, 14, 14]" in details  # 256*256*3*3 parameters
    assert "resnet.cnn:" in details and "conv(width, kernel=3" in details

    # clicking a node shows its details
    page.click("#viewport .node[data-name='layer3.2.bn2']")
    assert "layer3.2.bn2" in page.inner_text("#details")

    shot = tmp_path / "view.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("CNNDSL_VIEW_SCREENSHOT")  # e.g. docs/images/view_resnet50.png
    if keep:
        shutil.copyfile(shot, keep)
    assert problems == []
    page.close()


def test_render_page_inlines_everything():
    html = render_page({"nodes": [], "clusters": [], "outputs": [], "sources": {}, "totals": {}, "inputs": [],
                        "by_op": [], "warnings": [], "network": "x", "display": "x", "context": 3})
    assert "/*CSS*/" not in html and "/*JS*/" not in html and "/*DATA*/" not in html
    assert "function layoutContainer" in html and ".edge-line" in html


@pytest.mark.parametrize("name", ["inception_resnet_v2", "retinanet_resnet50_fpn", "unet", "ssd300_vgg16"])
def test_other_networks_open_and_expand_fully(browser, tmp_path, name):
    """Large (822 nodes), shared heads with many outputs, skip connections across a U, several outputs:
    the page opens collapsed, and "Expand all" draws every node, without a console error."""
    out = tmp_path / f"{name}.html"
    assert main(["view", name, "-o", str(out)]) == 0
    total = len(_data(name)["nodes"])
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert 0 < page.locator("#viewport .node, #viewport .cluster.closed").count() < total
    page.click("#expand-all")
    assert page.locator("#viewport .node").count() == total
    assert page.locator("#viewport .cluster.closed").count() == 0
    # every drawn edge has a finite path (the layout placed both ends and every bend)
    paths = page.locator("#viewport .edge-line").evaluate_all("els => els.map(e => e.getAttribute('d'))")
    assert paths and not [d for d in paths if "NaN" in d or "undefined" in d or "Infinity" in d]
    page.click("#collapse-all")
    assert page.locator("#viewport .node").count() < total
    assert problems == []
    page.close()
