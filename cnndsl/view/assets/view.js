// cnndsl view: an interactive graph of one network. Self-contained: no library, no network access.
// Data: the JSON in <script id="view-data"> (cnndsl/view/data.py). Every text from it reaches the
// page through textContent or setAttribute, never as markup.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("view-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var nodes = DATA.nodes, clusters = DATA.clusters;
  var NODE_W = 176, NODE_H = 46, BOX_H = 54, GAP_X = 26, GAP_Y = 34, PAD = 12, HEAD = 26, DUMMY_W = 10;

  // ------------------------------------------------------------------ structure
  var childClusters = clusters.map(function () { return []; });
  var childNodes = clusters.map(function () { return []; });
  var rootClusters = [], rootNodes = [];
  clusters.forEach(function (c) { (c.parent === null ? rootClusters : childClusters[c.parent]).push(c.id); });
  nodes.forEach(function (n) { (n.cluster === null ? rootNodes : childNodes[n.cluster]).push(n.id); });
  var chain = nodes.map(function (n) {  // each node's clusters, outermost first
    var out = [], c = n.cluster;
    while (c !== null) { out.push(c); c = clusters[c].parent; }
    return out.reverse();
  });
  var members = clusters.map(function () { return []; });  // every node below each cluster, in order
  chain.forEach(function (ch, n) { ch.forEach(function (c) { members[c].push(n); }); });
  var allNodes = nodes.map(function (n) { return n.id; });
  var users = nodes.map(function () { return []; });
  nodes.forEach(function (n) { n.inputs.forEach(function (s) { users[s].push(n.id); }); });
  var expanded = new Set();
  var selected = null;  // "n<id>" or "c<id>"
  var boxes = {};       // key -> absolute {x, y, w, h} of what is drawn

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, text, cls, parent) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function num(v) { return Number(v || 0).toLocaleString("en-US"); }
  function human(v, unit) {
    v = Number(v || 0);
    var steps = unit === "B" ? [[1 << 30, " GiB"], [1 << 20, " MiB"], [1 << 10, " KiB"]]
                             : [[1e9, " G"], [1e6, " M"], [1e3, " k"]];
    for (var i = 0; i < steps.length; i++) {
      if (v >= steps[i][0]) return (v / steps[i][0]).toFixed(2) + steps[i][1] + (unit === "B" ? "" : "");
    }
    return String(v) + (unit === "B" ? " B" : "");
  }
  function fit(text, max) { return text.length > max ? text.slice(0, max - 1) + "\u2026" : text; }
  function shortName(n) {
    var c = n.cluster === null ? null : clusters[n.cluster].path;
    return c && n.name.indexOf(c + ".") === 0 ? n.name.slice(c.length + 1) : n.name;
  }

  // ------------------------------------------------------------------ layout (layered, nested)
  function unitKey(nid, depth) {  // the unit of node nid inside a container at nesting depth `depth`
    var ch = chain[nid];
    return depth < ch.length ? "c" + ch[depth] : "n" + nid;
  }
  function inContainer(nid, cid, depth) { return cid === null || chain[nid][depth - 1] === cid; }

  function layoutContainer(cid) {
    var depth = cid === null ? 0 : clusters[cid].depth + 1;
    var units = [], byKey = {};
    (cid === null ? rootClusters : childClusters[cid]).forEach(function (c) {
      var u;
      if (expanded.has(c)) {
        var inner = layoutContainer(c);
        u = { key: "c" + c, kind: "open", id: c, w: Math.max(inner.w + 2 * PAD, 150), h: inner.h + 2 * PAD + HEAD,
              inner: inner, first: clusters[c].first };
      } else {
        u = { key: "c" + c, kind: "closed", id: c, w: NODE_W, h: BOX_H, first: clusters[c].first };
      }
      units.push(u); byKey[u.key] = u;
    });
    (cid === null ? rootNodes : childNodes[cid]).forEach(function (n) {
      var u = { key: "n" + n, kind: "node", id: n, w: NODE_W, h: NODE_H, first: n };
      units.push(u); byKey[u.key] = u;
    });
    // unit edges; inside a block, values from outside enter at a port on top and leave at one below
    var edges = [], seen = {};
    function addEdge(ks, kv, shape) {
      var id = ks + ">" + kv;
      if (!seen[id]) { seen[id] = { from: ks, to: kv, shapes: [] }; edges.push(seen[id]); }
      if (seen[id].shapes.indexOf(shape) < 0) seen[id].shapes.push(shape);
    }
    function port(key, first) {
      if (!byKey[key]) { byKey[key] = { key: key, kind: "port", w: DUMMY_W, h: 0, first: first }; units.push(byKey[key]); }
      return key;
    }
    var outputs = {};
    DATA.outputs.forEach(function (o) { outputs[o.node] = true; });
    (cid === null ? allNodes : members[cid]).forEach(function (v) {
      var kv = unitKey(v, depth);
      nodes[v].inputs.forEach(function (s) {
        if (!inContainer(s, cid, depth)) { addEdge(port("pin" + cid, -1), kv, nodes[s].shape); return; }
        var ks = unitKey(s, depth);
        if (ks !== kv) addEdge(ks, kv, nodes[s].shape);
      });
      if (cid !== null && (outputs[v] || users[v].some(function (u) { return !inContainer(u, cid, depth); }))) {
        addEdge(kv, port("pout" + cid, nodes.length), nodes[v].shape);
      }
    });
    units.sort(function (a, b) { return a.first - b.first; });
    // ranks: longest path over the unit DAG (Kahn; a cycle is broken at its earliest unit)
    var preds = {}, succs = {}, indeg = {};
    units.forEach(function (u) { preds[u.key] = []; succs[u.key] = []; indeg[u.key] = 0; });
    edges.forEach(function (e) { preds[e.to].push(e.from); succs[e.from].push(e.to); indeg[e.to]++; });
    var rank = {}, done = {}, order = [];
    var queue = units.filter(function (u) { return indeg[u.key] === 0; }), head = 0, scan = 0;
    while (order.length < units.length) {
      if (head === queue.length) {  // a cycle: start again at the earliest unit not placed
        while (done[units[scan].key]) scan++;
        queue.push(units[scan]);
      }
      var u = queue[head++];
      if (done[u.key]) continue;
      var r = 0;
      preds[u.key].forEach(function (p) { if (done[p]) r = Math.max(r, rank[p] + 1); });
      rank[u.key] = r; done[u.key] = true; order.push(u);
      succs[u.key].forEach(function (k) { if (--indeg[k] === 0 && !done[k]) queue.push(byKey[k]); });
    }
    // layers, with dummy units on edges that span several layers
    var layers = [];
    function put(u, r) { while (layers.length <= r) layers.push([]); u.rank = r; layers[r].push(u); }
    order.forEach(function (u) { put(u, rank[u.key]); });
    var segs = [], dummies = [];  // drawn edges: lists of unit records
    edges.forEach(function (e) {
      var a = byKey[e.from], b = byKey[e.to];
      var path = [a];
      if (b.rank > a.rank + 1) {
        for (var r = a.rank + 1; r < b.rank; r++) {
          var d = { key: "d" + segs.length + "_" + r, kind: "dummy", w: DUMMY_W, h: 0, first: a.first };
          put(d, r); path.push(d); dummies.push(d);
        }
      }
      path.push(b);
      segs.push({ path: path, edge: e, back: b.rank <= a.rank });
    });
    // neighbours for ordering
    var up = {}, down = {};
    function link(a, b) { (down[a.key] = down[a.key] || []).push(b); (up[b.key] = up[b.key] || []).push(a); }
    segs.forEach(function (s) { for (var i = 0; i + 1 < s.path.length; i++) { if (!s.back) link(s.path[i], s.path[i + 1]); } });
    layers.forEach(function (L) { L.forEach(function (u, i) { u.pos = i; }); });
    function sweep(L, nb) {
      L.forEach(function (u) {
        var ns = nb[u.key] || [];
        u.bary = ns.length ? ns.reduce(function (t, n) { return t + n.pos; }, 0) / ns.length : u.pos;
      });
      L.sort(function (a, b) { return a.bary - b.bary || a.first - b.first; });
      L.forEach(function (u, i) { u.pos = i; });
    }
    for (var it = 0; it < 4; it++) {
      for (var i = 1; i < layers.length; i++) sweep(layers[i], up);
      for (var j = layers.length - 2; j >= 0; j--) sweep(layers[j], down);
    }
    // x: pack, then pull each unit toward its neighbours' centres, keeping order and gaps
    layers.forEach(function (L) { var x = 0; L.forEach(function (u) { u.x = x; x += u.w + GAP_X; }); });
    function centre(u) { return u.x + u.w / 2; }
    function relax(L, nb) {
      L.forEach(function (u) {
        var ns = nb[u.key] || [];
        if (ns.length) u.want = ns.reduce(function (t, n) { return t + centre(n); }, 0) / ns.length - u.w / 2;
        else u.want = u.x;
      });
      // two placements that keep order and gaps (pushed right, pushed left); their average keeps them too
      var right = [], left = [];
      for (var k = 0; k < L.length; k++) {
        right[k] = k ? Math.max(L[k].want, right[k - 1] + L[k - 1].w + GAP_X) : L[k].want;
      }
      for (var m = L.length - 1; m >= 0; m--) {
        left[m] = m < L.length - 1 ? Math.min(L[m].want, left[m + 1] - GAP_X - L[m].w) : L[m].want;
      }
      L.forEach(function (u, i) { u.x = (left[i] + right[i]) / 2; });
    }
    for (var pass = 0; pass < 6; pass++) {
      for (var a = 1; a < layers.length; a++) relax(layers[a], up);
      for (var b = layers.length - 2; b >= 0; b--) relax(layers[b], down);
    }
    var minX = Infinity, maxX = -Infinity;
    layers.forEach(function (L) { L.forEach(function (u) { minX = Math.min(minX, u.x); maxX = Math.max(maxX, u.x + u.w); }); });
    if (!isFinite(minX)) { minX = 0; maxX = 0; }
    var y = 0;
    layers.forEach(function (L) {
      var lh = L.reduce(function (t, u) { return Math.max(t, u.h); }, 0);
      L.forEach(function (u) { u.x -= minX; u.y = y + (lh - u.h) / 2; });
      y += lh + GAP_Y;
    });
    return { units: units.concat(dummies), segs: segs, w: maxX - minX, h: Math.max(0, y - GAP_Y) };
  }

  // ------------------------------------------------------------------ drawing
  var svg = document.getElementById("graph");
  var viewport = document.getElementById("viewport");
  var view = { k: 1, x: 20, y: 20 };
  function applyView() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }

  function draw(container, ox, oy, edgeLayer, nodeLayer) {
    container.units.forEach(function (u) {
      var x = ox + u.x, y = oy + u.y;
      if (u.kind === "dummy") { u.ax = x + u.w / 2; u.ay = y; return; }
      boxes[u.key] = { x: x, y: y, w: u.w, h: u.h };
      if (u.kind === "port") { el("circle", { cx: x + u.w / 2, cy: y, r: 3.5, "class": "port" }, nodeLayer); return; }
      if (u.kind === "node") drawNode(nodes[u.id], x, y, nodeLayer);
      else if (u.kind === "closed") drawClosed(clusters[u.id], x, y, nodeLayer);
      else {
        drawOpen(clusters[u.id], x, y, u.w, u.h, nodeLayer);
        draw(u.inner, x + PAD + (u.w - 2 * PAD - u.inner.w) / 2, y + HEAD + PAD, edgeLayer, nodeLayer);
      }
    });
    container.segs.forEach(function (s) { drawEdge(s, edgeLayer); });
  }

  function drawEdge(s, layer) {
    var pts = s.path.map(function (u) {
      if (u.kind === "dummy") return [u.ax, u.ay];
      return null;
    });
    var a = boxes[s.path[0].key], b = boxes[s.path[s.path.length - 1].key];
    pts[0] = [a.x + a.w / 2, a.y + a.h];
    pts[pts.length - 1] = [b.x + b.w / 2, b.y];
    var d = "M" + pts[0][0] + "," + pts[0][1];
    for (var i = 1; i < pts.length; i++) {
      var p = pts[i - 1], q = pts[i], my = (p[1] + q[1]) / 2;
      if (s.back) d += " L" + q[0] + "," + q[1];
      else d += " C" + p[0] + "," + my + " " + q[0] + "," + my + " " + q[0] + "," + q[1];
    }
    var g = el("g", { "class": "edge" }, layer);
    el("path", { d: d, "class": "edge-line", "marker-end": "url(#arrow)" }, g);
    el("path", { d: d, "class": "edge-hit" }, g);
    var t = el("title", {}, g);
    t.textContent = s.edge.shapes.join(", ");
  }

  function drawNode(n, x, y, layer) {
    var key = "n" + n.id;
    var g = el("g", { "class": "node cat-" + n.category + (selected === key ? " selected" : ""), "data-key": key,
                      "data-name": n.name, transform: "translate(" + x + "," + y + ")" }, layer);
    el("rect", { width: NODE_W, height: NODE_H, rx: 5, "class": "body" }, g);
    el("rect", { width: 6, height: NODE_H, rx: 2, "class": "band" }, g);
    var t1 = el("text", { x: 14, y: 18, "class": "title" }, g);
    t1.textContent = fit(n.op + "  " + shortName(n), 24);
    var t2 = el("text", { x: 14, y: 36, "class": "sub" }, g);
    t2.textContent = fit(n.shape + (n.params ? " \u00b7 " + human(n.params) : ""), 25);
    var tip = el("title", {}, g);
    tip.textContent = n.name + " (" + n.op + ")\n" + n.shape + "\nparams " + num(n.params) + ", MACs " + num(n.macs);
    g.addEventListener("click", function (ev) { ev.stopPropagation(); select(key); });
  }

  function drawClosed(c, x, y, layer) {
    var key = "c" + c.id;
    var g = el("g", { "class": "cluster closed" + (selected === key ? " selected" : ""), "data-key": key,
                      "data-path": c.path, transform: "translate(" + x + "," + y + ")" }, layer);
    el("rect", { width: NODE_W, height: BOX_H, rx: 7, "class": "body" }, g);
    el("rect", { x: 4, y: 4, width: NODE_W - 8, height: BOX_H - 8, rx: 5, "class": "inner" }, g);
    var t1 = el("text", { x: 12, y: 21, "class": "title" }, g);
    t1.textContent = fit("\u25b8 " + c.path + "  " + c.kind, 25);
    var t2 = el("text", { x: 12, y: 40, "class": "sub" }, g);
    t2.textContent = fit(c.nodes + " nodes \u00b7 " + c.shape, 25);
    var tip = el("title", {}, g);
    tip.textContent = c.label + "\n" + c.nodes + " nodes, params " + num(c.params) + "\nclick to expand";
    g.addEventListener("click", function (ev) { ev.stopPropagation(); expanded.add(c.id); select(key, true); });
  }

  function drawOpen(c, x, y, w, hgt, layer) {
    var key = "c" + c.id;
    var g = el("g", { "class": "cluster open depth" + (c.depth % 4) + (selected === key ? " selected" : ""),
                      "data-key": key, "data-path": c.path, transform: "translate(" + x + "," + y + ")" }, layer);
    el("rect", { width: w, height: hgt, rx: 8, "class": "body" }, g);
    var head = el("g", { "class": "head" }, g);
    el("rect", { width: w, height: HEAD, rx: 8, "class": "headbg" }, head);
    var t = el("text", { x: 10, y: 17, "class": "title" }, head);
    t.textContent = fit("\u25be " + c.path + "  " + c.kind, Math.max(8, Math.floor(w / 7.2)));
    var tip = el("title", {}, head);
    tip.textContent = c.label + "\nclick to collapse";
    head.addEventListener("click", function (ev) { ev.stopPropagation(); expanded.delete(c.id); select(key, true); });
  }

  function render() {
    while (viewport.firstChild) viewport.removeChild(viewport.firstChild);
    boxes = {};
    var layout = layoutContainer(null);
    var edgeLayer = el("g", { "class": "edges" });
    var nodeLayer = el("g", { "class": "nodes" }, viewport);
    viewport.appendChild(edgeLayer);
    draw(layout, 0, 0, edgeLayer, nodeLayer);
    render.size = { w: layout.w, h: layout.h };
    document.getElementById("status").textContent =
      document.querySelectorAll("#viewport .node").length + " nodes and " +
      document.querySelectorAll("#viewport .cluster.closed").length + " collapsed blocks shown of " + nodes.length + " nodes";
  }

  function fitView() {
    var r = svg.getBoundingClientRect(), s = render.size;
    if (!s || !s.w || !r.width) return;
    view.k = Math.min(1.2, Math.max(0.05, Math.min((r.width - 40) / s.w, (r.height - 40) / s.h)));
    view.x = (r.width - s.w * view.k) / 2;
    view.y = 20;
    applyView();
  }

  function centreOn(key) {
    var b = boxes[key];
    if (!b) return;
    var r = svg.getBoundingClientRect();
    view.k = Math.max(view.k, 0.6);
    view.x = r.width / 2 - (b.x + b.w / 2) * view.k;
    view.y = r.height / 2 - (b.y + b.h / 2) * view.k;
    applyView();
  }

  // ------------------------------------------------------------------ details panel
  function row(table, label, value) {
    var tr = h("tr", null, null, table);
    h("th", label, null, tr);
    h("td", value, null, tr);
  }

  function showSource(span, panel) {
    if (!span) return;
    var lines = DATA.sources[span.file];
    h("h3", "Source  " + span.file + ":" + span.line, null, panel);
    if (!lines) return;
    var pre = h("pre", null, "source", panel);
    var lo = Math.max(1, span.line - DATA.context), hi = Math.min(lines.length, span.line + DATA.context);
    for (var i = lo; i <= hi; i++) {
      var line = h("div", null, i === span.line ? "line here" : "line", pre);
      h("span", String(i).padStart(4, " ") + "  ", "ln", line);
      h("span", lines[i - 1], null, line);
    }
  }

  function showNode(n, panel) {
    h("h2", n.name, null, panel);
    var table = h("table", null, "props", panel);
    row(table, "op", n.op + " (" + n.category + ")");
    row(table, "output", n.shape + " " + n.dtype);
    n.inputs.forEach(function (s, i) { row(table, i ? "" : "inputs", nodes[s].name + "  " + n.input_shapes[i]); });
    Object.keys(n.attrs).forEach(function (k) { row(table, k, n.attrs[k]); });
    row(table, "params", num(n.params));
    row(table, "MACs", num(n.macs));
    row(table, "FLOPs", num(n.flops));
    row(table, "memory", num(n.memory) + " B (" + human(n.memory, "B") + ")");
    if (n.rf) {
      var d = n.rf_detail || {};
      row(table, "receptive field", n.rf + (d.stride ? ", stride " + d.stride.join("x") : "") +
          (d.padding ? ", padding " + d.padding.join("x") : ""));
    }
    if (n.block) row(table, "block", n.block);
    if (n.shared) row(table, "shared", n.shared.instance + ", application " + n.shared.application);
    if (n.params_of) row(table, "parameters of", n.params_of);
    var outs = users[n.id].map(function (u) { return nodes[u].name; });
    if (outs.length) row(table, "used by", outs.join(", "));
    showSource(n.span, panel);
  }

  function showCluster(c, panel) {
    h("h2", c.path + "  (" + c.kind + ")", null, panel);
    h("p", c.label, "label", panel);
    var table = h("table", null, "props", panel);
    row(table, "nodes", c.nodes);
    row(table, "output", c.shape);
    row(table, "params", num(c.params));
    row(table, "MACs", num(c.macs));
    row(table, "FLOPs", num(c.flops));
    row(table, "memory", num(c.memory) + " B (" + human(c.memory, "B") + ")");
    row(table, "ops", Object.keys(c.ops).map(function (k) { return k + " \u00d7" + c.ops[k]; }).join(", "));
    var btn = h("button", expanded.has(c.id) ? "Collapse" : "Expand", null, panel);
    btn.addEventListener("click", function () {
      if (expanded.has(c.id)) expanded.delete(c.id); else expanded.add(c.id);
      select("c" + c.id, true);
    });
    showSource(nodes[c.first].span, panel);
  }

  function select(key, rerender) {
    selected = key;
    var panel = document.getElementById("details");
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    if (key === null) h("p", "Click a node or a block for its details; click a block to expand it.", "hint", panel);
    else if (key[0] === "n") showNode(nodes[+key.slice(1)], panel);
    else showCluster(clusters[+key.slice(1)], panel);
    if (rerender) render();
    else {
      Array.prototype.forEach.call(viewport.querySelectorAll(".selected"), function (e) { e.classList.remove("selected"); });
      var g = viewport.querySelector('[data-key="' + key + '"]');
      if (g) g.classList.add("selected");
    }
  }

  function reveal(key) {
    var ch = key[0] === "n" ? chain[+key.slice(1)] : [];
    if (key[0] === "c") { var c = clusters[+key.slice(1)].parent; while (c !== null) { ch.unshift(c); c = clusters[c].parent; } }
    ch.forEach(function (c) { expanded.add(c); });
    select(key, true);
    centreOn(key);
  }

  // ------------------------------------------------------------------ totals panel
  function showTotals() {
    var panel = document.getElementById("totals");
    var t = DATA.totals;
    h("h2", "Totals", null, panel);
    var table = h("table", null, "props", panel);
    row(table, "nodes", num(nodes.length));
    row(table, "params", num(t.params) + " (" + human(t.params) + ")");
    if (t.buffers !== undefined) row(table, "buffers", num(t.buffers));
    row(table, "MACs", num(t.macs) + " (" + human(t.macs) + ")");
    row(table, "FLOPs", num(t.flops) + " (" + human(t.flops) + ")");
    row(table, "activations", human(t.memory, "B"));
    if (t.peak_memory !== undefined) row(table, "peak memory", human(t.peak_memory, "B") + " at " + t.peak_memory_at);
    if (t.output_rf) {
      Object.keys(t.output_rf).forEach(function (k) { row(table, "RF of " + k, t.output_rf[k].join("x")); });
    }
    DATA.inputs.forEach(function (i) { row(table, "input " + i.name, "[" + i.shape.join(", ") + "] " + i.dtype); });
    h("h3", "Sharing", null, panel);
    if (!t.shared || !t.shared.length) h("p", "No shared instances: every layer has its own parameters.", "hint", panel);
    else {
      var st = h("table", null, "props", panel);
      t.shared.forEach(function (s) {
        row(st, s.instance, s.applications + " applications, " + num(s.params) + " params counted once");
      });
    }
    h("h3", "By op", null, panel);
    var bt = h("table", null, "byop", panel);
    var hr = h("tr", null, null, bt);
    ["op", "nodes", "params", "MACs"].forEach(function (x) { h("th", x, null, hr); });
    DATA.by_op.forEach(function (r) {
      var tr = h("tr", null, null, bt);
      h("td", r.op, null, tr); h("td", num(r.nodes), null, tr); h("td", num(r.params), null, tr); h("td", num(r.macs), null, tr);
    });
    if (DATA.convention) h("p", DATA.convention, "hint", panel);
    DATA.warnings.forEach(function (w) { h("p", w, "warning", panel); });
  }

  // ------------------------------------------------------------------ search
  var search = document.getElementById("search"), results = document.getElementById("results");
  var hits = [];
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    while (results.firstChild) results.removeChild(results.firstChild);
    hits = [];
    if (!q) { results.hidden = true; return; }
    clusters.forEach(function (c) {
      if (c.path.toLowerCase().indexOf(q) >= 0 || c.kind.toLowerCase().indexOf(q) >= 0) hits.push(["c" + c.id, c.path, c.kind]);
    });
    nodes.forEach(function (n) {
      if (n.name.toLowerCase().indexOf(q) >= 0 || n.op.toLowerCase() === q) hits.push(["n" + n.id, n.name, n.op]);
    });
    hits.sort(function (a, b) {
      var ea = a[1].toLowerCase() === q ? 0 : 1, eb = b[1].toLowerCase() === q ? 0 : 1;
      return ea - eb;
    });
    hits.slice(0, 50).forEach(function (hit) {
      var li = h("li", null, null, results);
      li.setAttribute("data-key", hit[0]);
      h("span", hit[1], "name", li);
      h("span", hit[2], "op", li);
      li.addEventListener("click", function () { results.hidden = true; reveal(hit[0]); });
    });
    if (!hits.length) h("li", "no match", "none", results);
    else if (hits.length > 50) h("li", (hits.length - 50) + " more\u2026", "none", results);
    results.hidden = false;
  }
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && hits.length) { results.hidden = true; reveal(hits[0][0]); }
    if (ev.key === "Escape") { results.hidden = true; }
  });

  // ------------------------------------------------------------------ pan and zoom
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    var k = Math.min(4, Math.max(0.03, view.k * Math.exp(-ev.deltaY * 0.0015)));
    view.x = px - (px - view.x) * k / view.k;
    view.y = py - (py - view.y) * k / view.k;
    view.k = k;
    applyView();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    view.x = drag.vx + ev.clientX - drag.x; view.y = drag.vy + ev.clientY - drag.y; applyView();
  });
  window.addEventListener("mouseup", function () { drag = null; });

  document.getElementById("expand-all").addEventListener("click", function () {
    clusters.forEach(function (c) { expanded.add(c.id); }); render(); fitView();
  });
  document.getElementById("collapse-all").addEventListener("click", function () { expanded.clear(); render(); fitView(); });
  document.getElementById("fit").addEventListener("click", fitView);

  // ------------------------------------------------------------------ start
  // open small top levels (a network that is one `features` block opens one level down)
  function visibleUnits() {
    var n = 0;
    (function count(cid) {
      var cl = cid === null ? rootClusters : childClusters[cid], nl = cid === null ? rootNodes : childNodes[cid];
      n += nl.length;
      cl.forEach(function (c) { if (expanded.has(c)) count(c); else n++; });
    })(null);
    return n;
  }
  var frontier = rootClusters.slice();
  while (visibleUnits() < 6 && frontier.length) {
    var c = frontier.shift();
    expanded.add(c);
    if (visibleUnits() > 40) { expanded.delete(c); break; }
    frontier = frontier.concat(childClusters[c]);
  }
  document.getElementById("net-name").textContent = DATA.network;
  document.getElementById("net-file").textContent = DATA.display;
  document.title = DATA.network + " \u2014 cnndsl view";
  showTotals();
  select(null, true);
  fitView();
  window.addEventListener("resize", fitView);
  document.body.setAttribute("data-ready", "1");
})();
