// mpgraph explorer: draws the layouts computed in Python (one per scope) and adds interaction:
// pan and zoom, scopes that expand and collapse, search, a panel with a node's numbers, views,
// colours, and stepping through the forward pass and the backward pass. Reads the JSON in <script id="mpgraph-data">.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("mpgraph-data").textContent);
  const N = D.nodes, E = D.edges, S = D.scopes, M = D.messages;
  const LR = D.rankdir === "LR";
  const PAD = 10, HEADER = 20, LINE = 14;
  const KIND_FILL = { input: "#cfe2f3", param: "#fce5cd", op: "#f3f3f3", const: "#ffffff" };

  // -- derived structure ----------------------------------------------------------------------
  const chain = N.map(n => { const c = []; for (let s = n.scope; s !== -1; s = S[s].parent) c.push(s); return c.reverse(); });
  const sentBy = N.map(() => []), arriving = N.map(() => []);
  E.forEach((e, k) => { sentBy[e[1]].push(k); arriving[e[0]].push(k); });
  const scopeNodes = S.map(() => []);  // every node inside the scope, at any depth
  N.forEach((n, i) => chain[i].forEach(s => scopeNodes[s].push(i)));
  const messageEdges = N.map((_, i) => arriving[i].filter(k => E[k][3] >= 0).length);

  const state = { expanded: new Set(), view: D.view || (D.has_signals ? "both" : "forward"), colour: D.has_signals ? "signal" : "kind",
                  pass: D.start === "forward" || !D.steps.length ? "forward" : "backward",
                  step: (D.start === "steps" && D.steps.length) || (D.start === "forward" && D.forward.length) ? 0 : null,
                  compare: D.has_signal_diff ? "signal" : "value",
                  selected: null, found: null, k: 1, x: 20, y: 20 };
  const computedAtStart = new Set(N.map((_, i) => i));  // what no forward step computes: inputs, parameters, constants
  D.forward.forEach(i => computedAtStart.delete(i));
  function passSteps() { return state.pass === "forward" ? D.forward : D.steps; }

  // -- numbers --------------------------------------------------------------------------------
  function fmt(v) {
    if (v === null || v === undefined) return "?";
    if (typeof v === "string") return v;
    if (typeof v === "boolean") return v ? "True" : "False";
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(4)));
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
  function shapeText(shape) { return shape === null || shape === undefined ? "?" : "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")"); }
  function nest(flat, shape) {
    if (!Array.isArray(flat)) return fmt(flat);
    if (shape.length <= 1) return "[" + flat.map(fmt).join(", ") + "]";
    const step = flat.length / shape[0], rows = [];
    for (let i = 0; i < shape[0]; i++) rows.push(nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
    return "[" + rows.join(",\n ") + "]";
  }

  // -- colours --------------------------------------------------------------------------------
  function magnitudeColour(s) {  // s: a summary; the decades of mpgraph.drawing.notation.MAGNITUDES
    if (!s) return null;
    if (s.nan || s.inf) return [D.nonfinite[1], D.nonfinite[2]];
    const m = s.absmax || 0;
    if (m === 0) return [D.zero[1], D.zero[2]];
    for (const [bound, , fill, font] of D.magnitudes) if (bound === null || m < bound) return [fill, font];
    return null;
  }
  const RAMP = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"];
  const metricRange = {};
  D.metrics.forEach(name => {
    const vals = N.map(n => n.metrics && n.metrics[name]).filter(v => typeof v === "number");
    metricRange[name] = [Math.min(...vals), Math.max(...vals)];
  });
  function metricColour(name, v) {
    if (typeof v !== "number") return null;
    const [lo, hi] = metricRange[name];
    const t = hi > lo ? (v - lo) / (hi - lo) : 1;
    const i = Math.min(RAMP.length - 1, Math.floor(t * RAMP.length));
    return [RAMP[i], i >= 5 ? "white" : "black"];
  }
  const MD = D.message_diffs || [];
  function messageDiff(k) { return E[k][3] >= 0 ? MD[E[k][3]] || null : null; }
  function largestMessageDiff(i) {  // of the messages a node received: the one furthest from the other run's
    let best = null;
    for (const k of arriving[i]) { const d = messageDiff(k); if (d && (!best || (d.absmax || 0) > (best.absmax || 0))) best = d; }
    return best;
  }
  function diffFor(i) {  // the difference the compare switch chose
    return state.compare === "value" ? N[i].value_diff : state.compare === "message" ? largestMessageDiff(i) : N[i].diff;
  }
  function summaryFor(i, key) { return key === "signal" ? N[i].signal : key === "value" ? N[i].value : diffFor(i); }
  function nodeColour(i) {
    const c = state.colour;
    if (c === "kind") return [KIND_FILL[N[i].kind] || "#fff", "black"];
    if (c.startsWith("metric:")) { const m = c.slice(7); return metricColour(m, N[i].metrics && N[i].metrics[m]) || ["#fff", "#999"]; }
    return magnitudeColour(summaryFor(i, c)) || ["#fff", "#999"];
  }
  function scopeColour(s) {  // the largest number inside the scope
    const c = state.colour;
    if (c === "kind") return ["#f7f7f7", "black"];
    let best = null, bestSummary = null;
    for (const i of scopeNodes[s]) {
      if (c.startsWith("metric:")) {
        const v = N[i].metrics && N[i].metrics[c.slice(7)];
        if (typeof v === "number" && (best === null || v > best)) best = v;
      } else {
        const su = summaryFor(i, c);
        if (!su) continue;
        if (su.nan || su.inf) { bestSummary = su; break; }
        if (!bestSummary || (su.absmax || 0) > (bestSummary.absmax || 0)) bestSummary = su;
      }
    }
    if (c.startsWith("metric:")) return metricColour(c.slice(7), best) || ["#f7f7f7", "black"];
    return magnitudeColour(bestSummary) || ["#f7f7f7", "black"];
  }

  // -- the forward and the backward pass, step by step --------------------------------------
  function forwardInfo() {  // which nodes have their value: the leaves, then one op a step in topological order
    const computed = new Set(computedAtStart), upto = Math.min(state.step, D.forward.length);
    for (let s = 0; s < upto; s++) computed.add(D.forward[s]);
    const current = state.step >= 1 && state.step <= D.forward.length ? D.forward[state.step - 1] : null;
    return { forward: true, computed, current, hot: new Set(current === null ? [] : sentBy[current]),
             arrived: new Set(), sent: new Set(), known: new Set(), count: N.map(() => 0) };
  }
  function stepInfo() {  // which edges have carried their message, and which nodes know their signal
    if (state.step === null) return null;
    if (state.pass === "forward") return forwardInfo();
    const sent = new Set(), count = N.map(() => 0);
    const upto = Math.min(state.step, D.steps.length);
    for (let s = 0; s < upto; s++) for (const k of D.steps[s].edges) { sent.add(k); count[E[k][0]]++; }
    const known = new Set(D.seeds);
    N.forEach((_, i) => { if (messageEdges[i] > 0 && count[i] === messageEdges[i]) known.add(i); });
    const current = state.step >= 1 && state.step <= D.steps.length ? D.steps[state.step - 1] : null;
    const hot = new Set(current ? current.edges : []);
    const arrived = new Set(current ? arriving[current.node].filter(k => sent.has(k) && !hot.has(k)) : []);
    return { sent, known, count, current: current ? current.node : null, hot, arrived };
  }
  function forwardCaption() {
    const n = D.forward.length;
    if (state.step === 0) return "start: the inputs and parameters are known";
    if (state.step > n) return "done: every value is known; the backward pass can start";
    const i = D.forward[state.step - 1], node = N[i];
    return `step ${state.step} of ${n}: ${node.name} = ${node.op}(${node.args.map(a => N[a].short).join(", ")})` +
      (node.value ? ` = ${node.value.text}` : "");
  }
  function stepCaption() {
    const n = D.steps.length;
    if (state.step === null) return "";
    if (state.pass === "forward") return forwardCaption();
    if (state.step === 0) return "start: the forward values are known; seed " + D.seeds.map(i => N[i].short).join(", ") + " = 1";
    if (state.step > n) return "done: every error signal is the sum of the messages its node received";
    const st = D.steps[state.step - 1], node = N[st.node];
    const got = arriving[st.node].filter(k => E[k][3] >= 0).length;
    return `step ${state.step} of ${n}: ${node.name} ` + (got > 1 ? `sums ${got} messages into its signal, ` : "") +
      `sends ${st.edges.length} message${st.edges.length > 1 ? "s" : ""}: ` + st.edges.map(k => "to " + N[E[k][0]].short).join(", ");
  }

  // -- layout: the Python layouts, boxes moved out of the way of expanded scopes ------------
  function naturalSize(key) {
    const o = key[0] === "n" ? N[+key.slice(1)] : S[+key.slice(1)];
    return [o.width, o.height];
  }
  function placeScope(s) {  // positions (top-left, relative) and size of an expanded scope's content
    const boxes = [];
    for (const [key, cx, cy] of S[s].layout.items) {
      const [w, h] = naturalSize(key);
      let inner = null, aw = w, ah = h;
      if (key[0] === "s" && state.expanded.has(+key.slice(1))) {
        inner = placeScope(+key.slice(1));
        aw = Math.max(inner.w + 2 * PAD, w); ah = inner.h + HEADER + 2 * PAD;
      }
      boxes.push({ key, cx, cy, w, h, aw, ah, inner });
    }
    arrange(boxes, s === 0);
    let W = 0, H = 0;
    for (const b of boxes) { W = Math.max(W, b.x + b.aw); H = Math.max(H, b.y + b.ah); }
    return { boxes, w: W, h: H };
  }
  // Where the boxes of one scope go once some of them are expanded. Graphviz puts the boxes of a
  // rank (one step of the flow) in one column (one row for TB). An expanded box keeps its place
  // in its rank and pushes the boxes after it in that rank along; the ranks after it move over
  // by the widest growth in its rank (not the sum). Expanded side by side, a rank would make a
  // column many screens tall (36 hidden units): then the rank is wrapped into several columns, in
  // Graphviz's order, when that lets the drawing fit the canvas (the top level) or a square (a
  // scope inside it) at a zoom at least WRAP_GAIN times larger.
  const RANK_GAP = 40, BOX_GAP = 14, WRAP_GAIN = 1.25, MAX_WRAP = 40;
  function arrange(boxes, top) {
    const along = b => LR ? b.cx : b.cy, across = b => LR ? b.cy : b.cx;
    const thick = b => LR ? b.w : b.h, extent = b => LR ? b.h : b.w;  // the layout's box
    const drawnThick = b => LR ? b.aw : b.ah, drawnExtent = b => LR ? b.ah : b.aw;  // as drawn
    const ranks = [];
    for (const b of boxes.slice().sort((a, c) => along(a) - along(c))) {
      const r = ranks[ranks.length - 1];
      if (r && along(b) - r.at < 1) r.members.push(b); else ranks.push({ at: along(b), members: [b] });
    }
    for (const r of ranks) {
      r.members.sort((a, c) => across(a) - across(c));
      r.start = Math.min(...r.members.map(b => along(b) - thick(b) / 2));
      r.thick = Math.max(...r.members.map(thick));
    }
    function column(r) {  // every box where the layout put it, or after the one before it
      let end = -Infinity;
      const at = r.members.map(b => { const p = Math.max(across(b) - extent(b) / 2, end + BOX_GAP); end = p + drawnExtent(b); return p; });
      return { cols: null, at, extent: end, thick: Math.max(...r.members.map(b => (r.thick - thick(b)) / 2 + drawnThick(b))) };
    }
    function wrap(r, limit) {  // columns of at most `limit` across, each box after the one before
      const cols = [];
      let col = null;
      for (const b of r.members) {
        if (!col || (col.members.length && col.end + BOX_GAP + drawnExtent(b) > limit)) cols.push(col = { members: [], at: [], end: -BOX_GAP, thick: 0 });
        col.members.push(b); col.at.push(col.end + BOX_GAP); col.end += BOX_GAP + drawnExtent(b);
        col.thick = Math.max(col.thick, drawnThick(b));
      }
      return { cols, extent: Math.max(...cols.map(c => c.end)), thick: cols.reduce((t, c) => t + c.thick, 0) + RANK_GAP * (cols.length - 1) };
    }
    function size(plans) {  // the drawing's extent along and across the flow
      let shift = 0, alongEnd = 0, acrossEnd = 0;
      ranks.forEach((r, i) => {
        alongEnd = Math.max(alongEnd, r.start + shift + plans[i].thick);
        acrossEnd = Math.max(acrossEnd, plans[i].extent);
        shift += Math.max(0, plans[i].thick - r.thick);
      });
      return [alongEnd, acrossEnd];
    }
    // the top level fits the canvas; a scope inside it aims at a square, so that the levels
    // around it are not made to hold one long strip
    const r0 = svg.getBoundingClientRect(), screen = top ? [Math.max(200, r0.width), Math.max(200, r0.height)] : [1, 1];
    const canvas = LR ? screen : [screen[1], screen[0]];
    const zoom = ([a, c]) => Math.min(canvas[0] / Math.max(1, a), canvas[1] / Math.max(1, c));
    let plans = ranks.map(column);
    const [a0, c0] = size(plans);
    if (c0 / canvas[1] > a0 / canvas[0]) {  // too tall (LR) to fit: wrapping can help
      const tallest = Math.max(...plans.map(p => p.extent)), widest = Math.max(...boxes.map(drawnExtent));
      let best = null, bestZoom = zoom([a0, c0]) * WRAP_GAIN;
      for (let k = 2; k <= MAX_WRAP; k++) {
        const limit = Math.max(widest, tallest / k);
        const trial = ranks.map((r, i) => plans[i].extent > limit ? wrap(r, limit) : plans[i]);
        const z = zoom(size(trial));
        if (z > bestZoom) { best = trial; bestZoom = z; }
        if (limit === widest) break;
      }
      if (best) plans = best;
    }
    let shift = 0;
    ranks.forEach((r, i) => {
      const plan = plans[i], base = r.start + shift;
      const put = (b, a, c) => { if (LR) { b.x = a; b.y = c; } else { b.x = c; b.y = a; } };
      if (!plan.cols) r.members.forEach((b, j) => put(b, base + (r.thick - thick(b)) / 2, plan.at[j]));
      else {
        let offset = base;
        for (const col of plan.cols) {
          col.members.forEach((b, j) => put(b, offset + (col.thick - drawnThick(b)) / 2, col.at[j]));
          offset += col.thick + RANK_GAP;
        }
      }
      shift += Math.max(0, plan.thick - r.thick);
    });
  }

  // -- drawing --------------------------------------------------------------------------------
  const svg = document.getElementById("canvas"), viewport = document.getElementById("viewport");
  let where = {};  // visible key -> [x, y, w, h] in page coordinates
  function rep(i) {  // the visible box that stands for node i
    const c = chain[i];
    for (let d = 1; d < c.length; d++) if (!state.expanded.has(c[d])) return "s" + c[d];
    return "n" + i;
  }
  function signalLine(n, info, i) {
    if (!D.has_signals) return "";
    const bar = n.short.length === 1 ? n.short + "\u0304" : "\u2207";
    if (info && info.forward) return `${bar} ?`;
    if (info && !info.known.has(i)) return `${bar} (${info.count[i]} of ${messageEdges[i]} messages)`;
    return n.signal ? `${bar} ${n.signal.text}` : `${bar} none`;
  }
  function trunc(s, w) {  // combining marks (the bar of x̄) take no room
    const max = Math.max(4, Math.floor((w - 8) / 6.6)) + (s.match(/[\u0300-\u036f]/g) || []).length;
    return s.length > max ? s.slice(0, max - 1) + "\u2026" : s;
  }
  function drawNode(i, x, y, w, h, info, out, detail) {
    const n = N[i], [fill, font] = info && info.forward && !info.computed.has(i) ? ["#fff", "#999"] : nodeColour(i);
    const cls = ["box", n.kind];
    if (state.selected === i) cls.push("selected");
    if (state.found === i) cls.push("found");
    if (info && info.current === i) cls.push("current");
    if (info && !info.forward && !info.known.has(i)) cls.push("pending");
    if (info && info.forward && !info.computed.has(i)) cls.push("uncomputed");
    if (merged && cls.length === 2) {  // a plain box among thousands: one subpath of its colour's path
      if (!merged.has(fill)) merged.set(fill, []);
      merged.get(fill).push(`M${x},${y}h${w}v${h}h${-w}z`);
      return;
    }
    const box = `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="${n.kind === "op" ? 6 : 0}" fill="${info && info.current === i ? "#ffd92f" : fill}"/>`;
    if (!detail) { out.push(`<g class="${cls.join(" ")}" data-key="n${i}" data-name="${esc(n.name)}">${box}</g>`); return; }
    const val = info && info.forward && !info.computed.has(i) ? "= ?" : n.value ? "= " + n.value.text : (n.kind === "input" ? "(fed)" : "");
    const lines = [`<text class="name" x="${x + 6}" y="${y + 15}" fill="${font}">${esc(trunc(n.short, w))}</text>`];
    if (state.view !== "backward" || !D.has_signals) lines.push(`<text class="value" x="${x + 6}" y="${y + 15 + LINE}" fill="${font}">${esc(trunc(val, w))}</text>`);
    if (state.view !== "forward" && n.kind !== "const") lines.push(`<text class="signal" x="${x + 6}" y="${y + 15 + (state.view === "both" || !D.has_signals ? 2 : 1) * LINE}" fill="${font}">${esc(trunc(signalLine(n, info, i), w))}</text>`);
    out.push(`<g class="${cls.join(" ")}" data-key="n${i}" data-name="${esc(n.name)}"><title>${esc(n.name)}</title>${box}${lines.join("")}</g>`);
  }
  function drawScopeBox(s, x, y, w, h, out) {
    const [fill, font] = scopeColour(s);
    out.push(`<g class="box scope" data-key="s${s}" data-scope="${esc(S[s].name)}"><title>${esc(S[s].name)}/: ${S[s].count} nodes; click to expand</title>` +
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="${fill}"/>` +
      `<text class="name" x="${x + 6}" y="${y + 15}" fill="${font}">${esc(S[s].short)}/ \u25b8</text>` +
      `<text x="${x + 6}" y="${y + 15 + LINE}" fill="${font}">${S[s].count} nodes</text></g>`);
  }
  function drawContent(s, placed, ox, oy, info, out, detail) {
    for (const b of placed.boxes) {
      const x = ox + b.x, y = oy + b.y, id = +b.key.slice(1);
      if (b.key[0] === "n") { drawNode(id, x, y, b.w, b.h, info, out, detail); where[b.key] = [x, y, b.w, b.h]; }
      else if (!b.inner) { drawScopeBox(id, x, y, b.w, b.h, out); where[b.key] = [x, y, b.w, b.h]; }
      else {
        out.push(`<g class="frame" data-frame="s${id}"><rect x="${x}" y="${y}" width="${b.aw}" height="${b.ah}" rx="4"/>` +
          `<g class="header" data-collapse="${id}"><title>click to collapse ${esc(S[id].name)}/</title><rect x="${x}" y="${y}" width="${b.aw}" height="${HEADER - 2}" rx="4"/>` +
          `<text x="${x + 6}" y="${y + 13}">${esc(S[id].short)}/ \u25be (${S[id].count})</text></g></g>`);
        where["f" + id] = [x, y, b.aw, b.ah];
        drawContent(id, b.inner, x + PAD, y + HEADER + PAD, info, out, detail);
      }
    }
  }
  function anchor(r, out) {  // where an edge leaves (out) or enters a box
    const [x, y, w, h] = r;
    return LR ? [out ? x + w : x, y + h / 2] : [x + w / 2, out ? y + h : y];
  }
  // Below this zoom the boxes' text is too small to read: boxes are drawn without it, which
  // keeps a fully expanded graph of thousands of nodes quick to draw and to pan.
  const DETAIL_ZOOM = 0.4;
  // Zoomed out on more than MERGE boxes, the boxes of one colour are one path and the edges of one
  // style another: thousands of SVG elements would take seconds to build; clicks are then
  // found by position.
  const MERGE = 1000;
  let drawnDetail = null, queued = 0, merged = null;
  function countNodes(placed) {
    let n = 0;
    for (const b of placed.boxes) n += b.key[0] === "n" ? 1 : b.inner ? countNodes(b.inner) : 0;
    return n;
  }
  function wantDetail() { return state.k >= DETAIL_ZOOM || N.length <= 300; }
  function draw() {
    if (queued) { cancelAnimationFrame(queued); queued = 0; }
    where = {};
    const info = stepInfo(), out = [], edgeOut = [], detail = drawnDetail = wantDetail();
    const placed = placeScope(0);
    merged = !detail && countNodes(placed) > MERGE ? new Map() : null;
    drawContent(0, placed, 0, 0, info, out, detail);
    const mergedEdges = merged ? new Map() : null;
    if (merged) for (const [fill, parts] of merged) out.unshift(`<path class="merged" fill="${fill}" d="${parts.join("")}"/>`);
    const groups = new Map();
    E.forEach((e, k) => {
      const a = rep(e[0]), b = rep(e[1]);
      if (a === b) return;
      const key = a + ">" + b;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(k);
    });
    const labels = detail && groups.size <= 400 && state.view !== "forward" && D.has_signals;
    for (const [key, ks] of groups) {
      const [a, b] = key.split(">");
      const [x1, y1] = anchor(where[a], true), [x2, y2] = anchor(where[b], false);
      const bend = LR ? Math.max(20, Math.abs(x2 - x1) / 2) : Math.max(20, Math.abs(y2 - y1) / 2);
      const d = LR ? `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`
                   : `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
      const cls = ["edge"];
      if (ks.length > 1) cls.push("many");
      if (state.view === "backward") cls.push("back");
      if (info && ks.some(k => info.hot.has(k))) cls.push("hot");
      else if (info && ks.some(k => info.arrived.has(k))) cls.push("arrived");
      if (mergedEdges && cls.length <= 3 && !cls.includes("hot") && !cls.includes("arrived")) {
        const style = cls.join(" ");
        if (!mergedEdges.has(style)) mergedEdges.set(style, []);
        mergedEdges.get(style).push(d);
        continue;
      }
      const marker = state.view === "backward" ? ' marker-start="url(#tip-back)"' : ' marker-end="url(#tip)"';
      const names = ks.length === 1 ? `${N[E[ks[0]][0]].name} \u2192 ${N[E[ks[0]][1]].name}` : `${ks.length} edges`;
      const msg = ks.length === 1 && E[ks[0]][3] >= 0 ? M[E[ks[0]][3]] : null;
      const shown = msg && (!info || info.sent.has(ks[0]));
      const delta = shown && state.compare === "message" ? messageDiff(ks[0]) : null;
      const title = detail ? `<title>${esc(names)}${shown ? "\nmessage: " + esc(msg.text) : ""}${delta ? "\n\u0394 from the compared run: " + esc(delta.text) : ""}</title>` : "";
      edgeOut.push(`<path class="${cls.join(" ")}" data-edges="${ks.join(",")}" d="${d}"${marker}>${title}</path>`);
      if (labels && shown) {
        const text = state.compare === "message" && D.has_message_diff ? "\u0394 " + (delta ? delta.text : "none") : msg.text;
        edgeOut.push(`<text class="elabel${delta ? " delta" : ""}" x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 3}" text-anchor="middle">${esc(trunc(text, 120))}</text>`);
      }
    }
    if (mergedEdges) for (const [style, ds] of mergedEdges) edgeOut.push(`<path class="${style}" d="${ds.join("")}"/>`);
    viewport.innerHTML = `<defs><marker id="tip" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker>` +
      `<marker id="tip-back" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b2182b"/></marker></defs>` +
      `<g id="edges">${edgeOut.join("")}</g><g id="boxes">${out.join("")}</g>`;
    document.getElementById("step-caption").textContent = stepCaption();
    document.getElementById("step-count").textContent = state.step === null ? "" : `${state.step} / ${passSteps().length + 1}`;
    legend();
    transform();
  }

  // -- pan and zoom ---------------------------------------------------------------------------
  function transform() {
    viewport.setAttribute("transform", `translate(${state.x},${state.y}) scale(${state.k})`);
    if (drawnDetail !== null && wantDetail() !== drawnDetail && !queued) queued = requestAnimationFrame(() => { queued = 0; draw(); });
  }
  function fit() {
    const r = svg.getBoundingClientRect(), placed = placeScope(0);
    const k = Math.min(2, (r.width - 40) / Math.max(1, placed.w), (r.height - 40) / Math.max(1, placed.h));
    state.k = Math.max(0.005, k); state.x = 20; state.y = 20; transform();
  }
  function centreOn(key) {
    const b = where[key]; if (!b) return;
    const r = svg.getBoundingClientRect();
    state.k = Math.max(state.k, 0.8);
    state.x = r.width / 2 - (b[0] + b[2] / 2) * state.k; state.y = r.height / 2 - (b[1] + b[3] / 2) * state.k; transform();
  }
  let drag = null;
  svg.addEventListener("mousedown", ev => { drag = { x: ev.clientX, y: ev.clientY, sx: state.x, sy: state.y, moved: false }; });
  window.addEventListener("mousemove", ev => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("dragging"); }
    if (drag.moved) { state.x = drag.sx + dx; state.y = drag.sy + dy; transform(); }
  });
  window.addEventListener("mouseup", () => { svg.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    const f = Math.exp(-ev.deltaY * 0.0015), k = Math.min(8, Math.max(0.005, state.k * f));
    state.x = px - (px - state.x) * k / state.k; state.y = py - (py - state.y) * k / state.k; state.k = k; transform();
  }, { passive: false });
  function zoomBy(f) { const r = svg.getBoundingClientRect(); const px = r.width / 2, py = r.height / 2, k = state.k * f;
    state.x = px - (px - state.x) * f; state.y = py - (py - state.y) * f; state.k = k; transform(); }

  // -- clicks -----------------------------------------------------------------------------------
  svg.addEventListener("click", ev => {
    if (drag && drag.moved) return;
    const header = ev.target.closest("[data-collapse]");
    if (header) { collapse(+header.dataset.collapse); return; }
    const box = ev.target.closest("[data-key]");
    const key = box ? box.dataset.key : merged ? hit(ev) : null;
    if (!key) return;
    if (key[0] === "s") expand(+key.slice(1));
    else select(+key.slice(1));
  });
  function hit(ev) {  // the node nearest the pointer, within 4 pixels, when boxes are merged into paths
    const r = svg.getBoundingClientRect();
    const px = (ev.clientX - r.left - state.x) / state.k, py = (ev.clientY - r.top - state.y) / state.k;
    let best = null, bestDistance = 4 / state.k;
    for (const key in where) {
      if (key[0] !== "n") continue;
      const [x, y, w, h] = where[key];
      const d = Math.hypot(Math.max(x - px, 0, px - x - w), Math.max(y - py, 0, py - y - h));
      if (d <= bestDistance) { best = key; bestDistance = d; }
    }
    return best;
  }
  function expand(s) { state.expanded.add(s); draw(); keepInView("f" + s); }
  function keepInView(key) {  // zoom out and move so that the box is on screen, if it is not
    const b = where[key]; if (!b) return;
    const r = svg.getBoundingClientRect();
    const x0 = state.x + b[0] * state.k, y0 = state.y + b[1] * state.k;
    if (x0 >= 0 && y0 >= 0 && x0 + b[2] * state.k <= r.width && y0 + b[3] * state.k <= r.height) return;
    state.k = Math.max(0.005, Math.min(state.k, (r.width - 40) / b[2], (r.height - 40) / b[3]));
    state.x = r.width / 2 - (b[0] + b[2] / 2) * state.k; state.y = r.height / 2 - (b[1] + b[3] / 2) * state.k; transform();
  }
  function collapse(s) {
    state.expanded.delete(s);
    for (const t of [...state.expanded]) { let p = S[t].parent; while (p > 0) { if (p === s) state.expanded.delete(t); p = S[p].parent; } }
    draw();
  }
  function reveal(i) { chain[i].slice(1).forEach(s => state.expanded.add(s)); }

  // -- the panel ------------------------------------------------------------------------------
  const panel = document.getElementById("panel");
  function histogram(s) {
    if (!s.hist) return "";
    const W = 300, H = 50, n = s.hist.length, top = Math.max(...s.hist, 1);
    const bars = s.hist.map((c, j) => `<rect x="${j * W / n + 1}" y="${H - H * c / top}" width="${W / n - 2}" height="${H * c / top}"><title>${c}</title></rect>`).join("");
    return `<svg class="hist" width="${W}" height="${H + 14}" viewBox="0 0 ${W} ${H + 14}">${bars}` +
      `<text x="0" y="${H + 12}" font-size="10">${fmt(s.range[0])}</text><text x="${W}" y="${H + 12}" font-size="10" text-anchor="end">${fmt(s.range[1])}</text></svg>`;
  }
  function summaryBlock(s, field) {
    if (!s) return `<p class="muted" data-field="${field}-none">none</p>`;
    const rows = [["summary", s.text], ["shape", shapeText(s.shape) + " " + s.dtype]];
    for (const k of ["mean", "std", "min", "max", "sum", "nan", "inf"]) if (s[k] !== undefined) rows.push([k, fmt(s[k])]);
    let html = "<table>" + rows.map(([k, v]) => `<tr><td>${k}</td><td data-field="${field}-${k}">${esc(v)}</td></tr>`).join("") + "</table>";
    if (s.note) html += `<p class="muted">${esc(s.note)}</p>`;
    html += histogram(s);
    if (s.full !== undefined && s.shape.length > 0) html += `<pre data-field="${field}-full">${esc(nest(s.full, s.shape))}</pre>`;
    else if (s.full !== undefined) html += `<pre data-field="${field}-full">${esc(fmt(s.full))}</pre>`;
    return html;
  }
  function deltaCell(k, field) {  // a message's difference from the compared run's, when comparing messages
    if (!D.has_message_diff) return "";
    const d = messageDiff(k);
    return `<td class="delta" data-field="${field}">\u0394 ${d ? esc(d.text) : "none"}</td>`;
  }
  function link(i) { return `<a data-goto="${i}">${esc(N[i].name)}</a>`; }
  function select(i) {
    state.selected = i;
    const n = N[i], info = stepInfo();
    let html = `<h2 data-field="name">${esc(n.name)}</h2><p>${esc(n.kind)}${n.op ? " <b>" + esc(n.op) + "</b>" : ""} \u00b7 ${shapeText(n.shape || (n.value && n.value.shape))} \u00b7 ${esc(n.dtype || (n.value && n.value.dtype) || "?")}</p>`;
    if (n.args.length) html += `<p>arguments: ${n.args.map(link).join(", ")}</p>`;
    if (info && info.forward && !info.computed.has(i))
      html += `<h3>value</h3><p class="muted" data-field="value-pending">not computed yet at this step: ${n.args.filter(a => info.computed.has(a)).length} of ${n.args.length} arguments known</p>`;
    else html += `<h3>value</h3>` + summaryBlock(n.value, "value");
    if (D.has_signals && info && info.forward) html += `<h3>error signal \u2202L/\u2202${esc(n.short)}</h3><p class="muted" data-field="signal-pending">known once the backward pass runs</p>`;
    else if (D.has_signals) {
      html += `<h3>error signal \u2202L/\u2202${esc(n.short)}</h3>`;
      if (info && !info.known.has(i)) html += `<p class="muted" data-field="signal-pending">not known yet at this step: ${info.count[i]} of ${messageEdges[i]} messages arrived</p>`;
      html += summaryBlock(n.signal, "signal");
      const inc = arriving[i].filter(k => E[k][3] >= 0);
      if (inc.length) {
        html += `<h3>messages received (${inc.length}), summed into the signal</h3><table>`;
        for (const k of inc) html += `<tr><td>from ${link(E[k][1])} (argument ${E[k][2]})</td><td data-field="message-in">${esc(M[E[k][3]].text)}</td>${deltaCell(k, "message-in-diff")}</tr>`;
        html += "</table>";
        const allScalar = inc.every(k => M[E[k][3]].shape.length === 0) && n.signal && n.signal.full !== undefined;
        if (allScalar && inc.length > 1) html += `<p class="sum" data-field="sum">${inc.map(k => fmt(M[E[k][3]].full)).join(" + ")} = ${fmt(n.signal.full)}</p>`;
        else if (inc.length > 1 && n.signal) html += `<p class="sum" data-field="sum">\u03a3 of these ${inc.length} messages = the signal, ${esc(n.signal.text)}</p>`;
      }
      const out = sentBy[i].filter(k => E[k][3] >= 0);
      if (out.length) {
        html += `<h3>messages sent to its arguments (${out.length})</h3><table>`;
        for (const k of out) {
          const m = M[E[k][3]];
          let local = "";
          if (m.shape.length === 0 && n.signal && n.signal.shape.length === 0 && typeof n.signal.full === "number" && n.signal.full !== 0 && typeof m.full === "number")
            local = ` = ${fmt(n.signal.full)} \u00d7 ${fmt(m.full / n.signal.full)} (local derivative \u2202${esc(n.short)}/\u2202${esc(N[E[k][0]].short)})`;
          html += `<tr><td>to ${link(E[k][0])}</td><td data-field="message-out">${esc(m.text)}${local}</td>${deltaCell(k, "message-out-diff")}</tr>`;
        }
        html += "</table>";
      }
    }
    if (n.value_diff) html += `<h3>difference of values (this run \u2212 compared run)</h3>` + summaryBlock(n.value_diff, "value_diff");
    if (n.diff) html += `<h3>difference of error signals (this run \u2212 compared run)</h3>` + summaryBlock(n.diff, "diff");
    if (n.metrics) html += `<h3>metrics</h3><table>` + Object.entries(n.metrics).map(([k, v]) => `<tr><td>${esc(k)}</td><td data-field="metric-${esc(k)}">${fmt(v)}</td></tr>`).join("") + "</table>";
    const consumers = E.filter(e => e[0] === i).map(e => e[1]);
    if (consumers.length) html += `<p>used by: ${[...new Set(consumers)].map(link).join(", ")}</p>`;
    panel.innerHTML = html;
    draw();
  }
  panel.addEventListener("click", ev => {
    const a = ev.target.closest("[data-goto]");
    if (a) goto(+a.dataset.goto);
  });
  function goto(i) { reveal(i); state.found = i; draw(); centreOn("n" + i); select(i); }

  // -- search ---------------------------------------------------------------------------------
  const search = document.getElementById("search"), results = document.getElementById("results");
  function matches(q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    const exact = [], rest = [];
    N.forEach((n, i) => { const name = n.name.toLowerCase(); if (name === q || n.short.toLowerCase() === q) exact.push(i); else if (name.includes(q)) rest.push(i); });
    return exact.concat(rest);
  }
  search.addEventListener("input", () => {
    const found = matches(search.value);
    results.innerHTML = found.slice(0, 30).map(i => `<li data-goto="${i}">${esc(N[i].name)}</li>`).join("") +
      (found.length > 30 ? `<li class="muted">\u2026 ${found.length - 30} more</li>` : "") +
      (search.value.trim() && !found.length ? `<li class="muted">no node matches</li>` : "");
  });
  search.addEventListener("keydown", ev => {
    if (ev.key === "Enter") { const found = matches(search.value); if (found.length) { goto(found[0]); results.innerHTML = ""; } }
    if (ev.key === "Escape") results.innerHTML = "";
  });
  results.addEventListener("click", ev => { const li = ev.target.closest("[data-goto]"); if (li) { goto(+li.dataset.goto); results.innerHTML = ""; } });

  // -- controls -------------------------------------------------------------------------------
  const view = document.getElementById("view"), colour = document.getElementById("colour");
  const options = [["kind", "kind"]];
  if (D.has_signals) options.push(["signal", "|error signal|"]);
  if (D.has_run || N.some(n => n.value)) options.push(["value", "|value|"]);
  if (D.has_diff) options.push(["diff", "|\u0394| from the compared run"]);
  const compare = document.getElementById("compare");
  if (D.has_diff) {
    document.getElementById("compare-box").hidden = false;
    compare.querySelector("option[value='signal']").disabled = !D.has_signal_diff;
    compare.querySelector("option[value='message']").disabled = !D.has_message_diff;
    compare.value = state.compare;
    compare.addEventListener("change", () => {  // choosing what to compare colours by it
      state.compare = compare.value; state.colour = colour.value = "diff";
      if (state.selected !== null) select(state.selected); else draw();
    });
  }
  D.metrics.forEach(m => options.push(["metric:" + m, m]));
  colour.innerHTML = options.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join("");
  if (!D.has_signals) { view.value = "forward"; view.disabled = true; }
  colour.value = state.colour; view.value = state.view;
  view.addEventListener("change", () => { state.view = view.value; draw(); });
  colour.addEventListener("change", () => { state.colour = colour.value; draw(); });
  function legend() {
    const el = document.getElementById("legend");
    const c = state.colour;
    let html = `${N.length} nodes, ${S.length - 1} scopes \u00b7 `;
    if (c === "kind") html += Object.entries(KIND_FILL).map(([k, f]) => `<span class="chip" style="background:${f}">${k}</span>`).join("");
    else if (c.startsWith("metric:")) { const [lo, hi] = metricRange[c.slice(7)]; html += `${esc(c.slice(7))}: <span class="chip" style="background:${RAMP[0]}">${fmt(lo)}</span>\u2026<span class="chip" style="background:${RAMP[RAMP.length - 1]};color:white">${fmt(hi)}</span>`; }
    else html += "largest |entry|: " + [[null, D.zero[0], D.zero[1], D.zero[2]], ...D.magnitudes, [null, D.nonfinite[0], D.nonfinite[1], D.nonfinite[2]]]
      .map(([, t, f, font]) => `<span class="chip" style="background:${f};color:${font}">${esc(t)}</span>`).join("");
    html += " \u00b7 drag to pan, wheel to zoom, click a scope to expand it, a node to see its numbers";
    el.innerHTML = html;
  }
  const stepButtons = ["step-start", "step-prev", "step-next", "step-end"].map(id => document.getElementById(id));
  const passChoice = document.getElementById("step-pass");
  passChoice.querySelector("option[value='forward']").disabled = !D.forward.length;
  passChoice.querySelector("option[value='backward']").disabled = !D.steps.length;
  if (!D.steps.length) passChoice.querySelector("option[value='backward']").textContent += " (no messages kept)";
  passChoice.value = state.pass;
  if (!D.steps.length && !D.forward.length) {
    passChoice.disabled = true;
    stepButtons.forEach(b => { b.disabled = true; b.title = "no run: mg.explore(graph, run)"; });
  }
  passChoice.addEventListener("change", () => {
    state.pass = passChoice.value;
    // stepping forward, no signal is known yet: colour by what the steps compute
    if (state.pass === "forward" && state.colour === "signal" && D.has_run) state.colour = colour.value = "value";
    setStep(0);
  });
  function setStep(s) {
    const steps = passSteps();
    state.step = s === null ? null : Math.max(0, Math.min(steps.length + 1, s));
    if (state.step !== null && state.step >= 1 && state.step <= steps.length) {
      const st = steps[state.step - 1];
      reveal(state.pass === "forward" ? st : st.node);
    }
    if (state.selected !== null) select(state.selected); else draw();
  }
  document.getElementById("step-start").onclick = () => setStep(0);
  document.getElementById("step-prev").onclick = () => setStep(state.step === null ? 0 : state.step - 1);
  function next() {  // past the end of the forward pass, on to the start of the backward pass
    if (state.pass === "forward" && state.step !== null && state.step > D.forward.length && D.steps.length) {
      state.pass = passChoice.value = "backward"; setStep(0);
    } else setStep(state.step === null ? 1 : state.step + 1);
  }
  document.getElementById("step-next").onclick = next;
  document.getElementById("step-end").onclick = () => setStep(null);
  document.addEventListener("keydown", ev => {
    if (ev.target === search) return;
    if (ev.key === "ArrowRight" && passSteps().length) next();
    if (ev.key === "ArrowLeft" && passSteps().length) setStep(state.step === null ? 0 : state.step - 1);
  });
  document.getElementById("expand-all").onclick = () => { S.forEach((_, s) => { if (s) state.expanded.add(s); }); fit(); draw(); };
  document.getElementById("collapse-all").onclick = () => { state.expanded.clear(); fit(); draw(); };
  document.getElementById("fit").onclick = fit;
  document.getElementById("zoom-in").onclick = () => zoomBy(1.25);
  document.getElementById("zoom-out").onclick = () => zoomBy(0.8);

  // a small graph opens expanded; a large one with its scopes collapsed
  if (N.length <= 60) S.forEach((_, s) => { if (s) state.expanded.add(s); });
  fit();
  draw();
  const shown = () => Object.keys(where).filter(k => k[0] === "n").map(k => N[+k.slice(1)].name);
  const locate = name => {  // a node's centre on the screen, if it is drawn
    const b = where["n" + N.findIndex(n => n.name === name)], r = svg.getBoundingClientRect();
    return b ? [r.left + state.x + (b[0] + b[2] / 2) * state.k, r.top + state.y + (b[1] + b[3] / 2) * state.k] : null;
  };
  const geometry = () => {  // the drawing's size and every box shown, in page coordinates
    const placed = placeScope(0);
    return { width: placed.w, height: placed.h, boxes: where };
  };
  window.mpgraphExplorer = { data: D, state, expand, collapse, select, goto, setStep, draw, shown, locate, geometry };
  document.body.dataset.ready = "1";
})();
