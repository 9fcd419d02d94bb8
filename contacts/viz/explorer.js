// The contacts explorer: a contact map (canvas), the structure (3Dmol.js) and the attention heads, linked.
//
// One module for two hosts: anywidget's render({model, el}) in a notebook, and mount(el, data) in a page
// written by Explorer.write_html. The data is contacts.viz.explorer.Explorer.payload(): which pairs, which
// labels and which head scores were decided in Python (contacts.viz.pairs.select_pairs, contact_map, P@L);
// this script only reads, draws and links them. Scripts and tests drive it through element.contactsExplorer
// (docs/viewer.md), never through pixel positions they guess.

const VERSION = 1;
const PARTNERS = 8;              // partners listed for a clicked residue
const HIGHLIGHT = "#E69F00";     // selected residues in 3D and on the map
const CYLINDERS_PER_SHAPE = 32;  // see View3D.drawPairs
const NEIGHBOURHOOD = 15;        // Å around the centre kept in view, at least, when zoomed onto a selection
// Cartoon segments a residue: 3Dmol.js's 10 up to 400 residues, then fewer (at least 4) so that a chain draws
// about 4,000 segments whatever its length: a 1022-residue cartoon at 10 is 1.3 million vertices, seconds of
// software WebGL, and at 4 looks the same in a 500-pixel panel (about two pixels a residue).
const CARTOON_SEGMENTS = 4000;
const MARGIN = {left: 46, top: 30, right: 8, bottom: 8};
const BANDS = [[1, 6, "#969696"], [6, 12, "short"], [12, 24, "medium"]];  // tinted like plot_contact_map
const UNKNOWN = [230, 230, 230];
const TYPED = {float32: Float32Array, float64: Float64Array, uint8: Uint8Array, uint32: Uint32Array, int32: Int32Array};
const LABEL_STYLE = {backgroundColor: "white", backgroundOpacity: 0.85, fontColor: "black", fontSize: 12,
                     borderColor: "#444444", borderThickness: 0.5};

// ------------------------------------------------------------------------------------------------ data

function asBytes(x) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);  // DataView (widget buffers), typed arrays
}

function fromBase64(text) {
  // Uint8Array.fromBase64 is 20x faster than fetching a data: URL (68 ms against 1.4 s for 9 MB in Chromium)
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const bytes = atob(text), out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return out;
}

async function decodeArrays(spec, raw) {
  const out = {};
  await Promise.all(Object.entries(spec).map(async ([name, s]) => {
    const src = raw[name];
    if (src === undefined) throw new Error(`array ${name} is missing from the data`);
    const bytes = typeof src === "string" ? fromBase64(src) : asBytes(src);
    const buffer = s.gzip
      ? await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()
      : bytes.slice().buffer;  // a copy: typed arrays need their own aligned buffer
    out[name] = new TYPED[s.dtype](buffer);
  }));
  return out;
}

function fmt(x, digits = 4) {
  return Number.isFinite(x) ? x.toPrecision(digits) : String(x);
}

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// One map in packed upper-triangle order (i < j, row-major): float32 values, or 8-bit display values
// (0: NaN, 1..255: lo..hi) with the exact scores of its ranked pairs.
class MapLayer {
  constructor(key, spec, arrays, n) {
    this.key = key;
    this.label = spec.label;
    this.prob = spec.prob;
    [this.lo, this.hi] = spec.range;
    this.span = this.hi - this.lo || 1;
    this.values = spec.values ? arrays[spec.values] : null;
    this.bytes = spec.bytes ? arrays[spec.bytes] : null;
    this.ranked = {};
    this.exact = new Map();
    for (const [range, name] of Object.entries(spec.ranked)) {
      const flat = arrays[name];
      this.ranked[range] = flat;
      if (spec.scores) {
        const score = arrays[spec.scores[range]];
        for (let k = 0; k < flat.length; k++) this.exact.set(flat[k], score[k]);
      }
    }
    this.n = n;
  }

  display(k) {  // k: packed index; [0, 1] or NaN
    if (this.values) {
      const v = this.values[k];
      if (v !== v) return NaN;
      const d = (v - this.lo) / this.span;
      return d < 0 ? 0 : d > 1 ? 1 : d;
    }
    const b = this.bytes[k];
    return b === 0 ? NaN : (b - 1) / 254;
  }

  value(i, j, k) {  // what ranks partners: exact where known, else the display value's score
    if (this.values) return this.values[k];
    const exact = this.exact.get(i * this.n + j);
    if (exact !== undefined) return exact;
    const b = this.bytes[k];
    return b === 0 ? NaN : this.lo + ((b - 1) / 254) * this.span;
  }

  text(i, j, k) {
    if (this.values) {
      const v = this.values[k];
      return v !== v ? "not predicted" : fmt(v);
    }
    const exact = this.exact.get(i * this.n + j);
    if (exact !== undefined) return fmt(exact);
    const b = this.bytes[k];
    if (b === 0) return "not predicted";
    if (b === 1) return `≤ ${fmt(this.lo, 2)} (8-bit)`;
    if (b === 255) return `≥ ${fmt(this.hi, 2)} (8-bit)`;
    return `≈ ${fmt(this.lo + ((b - 1) / 254) * this.span, 2)} (8-bit)`;
  }
}

// ------------------------------------------------------------------------------------------------ 3Dmol.js

const loading = {};

function load3Dmol(src) {
  if (window.$3Dmol) return Promise.resolve(window.$3Dmol);
  if (!src || src === "inline") return Promise.reject(new Error("3Dmol.js is not in this page"));
  if (!loading[src]) {
    loading[src] = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      // an AMD loader (requirejs) would take 3Dmol's UMD module and leave no $3Dmol: hide it meanwhile
      const amd = window.define && window.define.amd ? window.define : null;
      if (amd) window.define = undefined;
      const done = (error) => {
        if (amd) window.define = amd;
        if (error) { delete loading[src]; reject(error); }
        else if (window.$3Dmol) resolve(window.$3Dmol);
        else reject(new Error("3Dmol.js loaded but defined no $3Dmol"));
      };
      script.onload = () => done(null);
      script.onerror = () => done(new Error("could not load 3Dmol.js"));
      script.src = src;
      document.head.appendChild(script);
    });
  }
  return loading[src];
}

class View3D {
  constructor(explorer, div, $3Dmol, structure, arrays) {
    this.x = explorer;
    this.meta = structure;
    this.index = arrays[structure.index];
    this.anchors = arrays[structure.anchors];
    // no antialiasing: with software WebGL it multiplies the cost of every draw
    const quality = Math.max(4, Math.min(10, Math.round(CARTOON_SEGMENTS / structure.residues.length)));
    this.viewer = $3Dmol.createViewer(div, {backgroundColor: "white", antialias: false, cartoonQuality: quality,
                                             minimumZoomToDistance: NEIGHBOURHOOD});
    if (!this.viewer) throw new Error("3Dmol.js could not create a viewer (no WebGL?)");
    this.model = this.viewer.addModel(structure.pdb, "pdb");
    const residueOf = new Map(structure.residues.map(([resi, icode], r) => [`${resi}|${icode}`, r]));
    this.atoms = structure.residues.map(() => []);
    this.residueOfAtom = new Map();
    for (const atom of this.model.selectedAtoms({})) {
      const r = residueOf.get(`${atom.resi}|${(atom.icode || "").trim()}`);
      if (r === undefined) continue;
      this.atoms[r].push(atom.index);
      this.residueOfAtom.set(atom.index, r);
    }
    this.position = new Int32Array(structure.residues.length).fill(-1);  // map position of each residue
    this.index.forEach((r, p) => { if (r >= 0) this.position[r] = p; });
    this.labels = [];
    this.viewer.setStyle({}, {cartoon: {color: explorer.meta.cartoon_color}});
    this.viewer.setClickable({}, true, (atom) => explorer.clickAtom(this.residueOfAtom.get(atom.index)));
    this.viewer.setHoverable({}, true, (atom, viewer) => {
      if (!atom.label) atom.label = viewer.addLabel(`${atom.resn} ${atom.resi}${(atom.icode || "").trim()}`,
        {...LABEL_STYLE, position: {x: atom.x, y: atom.y, z: atom.z}});
    }, (atom, viewer) => { if (atom.label) { viewer.removeLabel(atom.label); delete atom.label; } });
    this.viewer.setHoverDuration(150);
  }

  anchor(p) {
    const r = this.index[p];
    if (r < 0) return null;
    const a = this.anchors.subarray(3 * r, 3 * r + 3);
    return Number.isNaN(a[0]) ? null : {x: a[0], y: a[1], z: a[2]};
  }

  drawPairs(pairs, prob, render = true) {
    for (const shape of this.pairShapes || []) this.viewer.removeShape(shape);
    this.pairShapes = [];
    const open = {};  // kind -> [shape, cylinders in it]
    pairs.forEach(({i, j, kind, score}, rank) => {
      const a = this.anchor(i), b = this.anchor(j);
      if (!a || !b) return;
      // as show_contacts: probabilities size a cylinder as they are, other scores by rank
      const s = prob ? Math.min(1, Math.max(0, score)) : pairs.length > 1 ? 1 - rank / (pairs.length - 1) : 1;
      // a few cylinders a shape: 3Dmol.js recomputes a shape's bounds over all its vertices at each one added
      if (!open[kind] || open[kind][1] === CYLINDERS_PER_SHAPE) {
        open[kind] = [this.viewer.addShape({color: this.x.meta.colors[kind]}), 0];
        this.pairShapes.push(open[kind][0]);
      }
      // open tubes: 3Dmol.js caps a cylinder with two half-spheres, ten times the triangles of the tube
      // (L = 1022, top L pairs: 0.98 million vertices drawn with caps, 0.10 million without), unseen at these radii
      open[kind][0].addCylinder({start: a, end: b, radius: 0.2 + 0.3 * s, color: this.x.meta.colors[kind]});
      open[kind][1]++;
    });
    if (render) this.viewer.render();
  }

  // Selected residues: their atoms as spheres in a shape of their own and a label each, the view centred on
  // them. Shapes and labels leave the model's styles alone: restyling rebuilds the whole cartoon, which costs
  // seconds for a 1000-residue chain where WebGL is software.
  highlight(positions) {
    if (this.marked) this.viewer.removeShape(this.marked);
    for (const label of this.labels) this.viewer.removeLabel(label);
    this.labels = [];
    this.marked = this.viewer.addShape({color: HIGHLIGHT});
    const atoms = [];
    for (const p of positions) {
      const r = this.index[p];
      if (r < 0) continue;
      atoms.push(...this.atoms[r]);
      const where = this.anchor(p) || this.centroid(this.atoms[r]);
      if (where) this.labels.push(this.viewer.addLabel(this.x.residues[p], {...LABEL_STYLE, fontSize: 13,
        backgroundColor: "#fff7e0", borderColor: HIGHLIGHT, borderThickness: 1.5, position: where}));
    }
    if (atoms.length) {
      const selection = {index: atoms};
      for (const a of this.model.selectedAtoms(selection)) {
        this.marked.addSphere({center: {x: a.x, y: a.y, z: a.z}, radius: 0.55, color: HIGHLIGHT});
      }
      this.viewer.render();
      // centred on the residues' atoms, close enough to see them (minimumZoomToDistance keeps some context)
      this.viewer.zoomTo(selection);
    } else {
      this.viewer.render();
    }
    return atoms;
  }

  centroid(indices) {
    if (!indices.length) return null;
    const atoms = this.model.selectedAtoms({index: indices});
    const c = {x: 0, y: 0, z: 0};
    for (const a of atoms) { c.x += a.x / atoms.length; c.y += a.y / atoms.length; c.z += a.z / atoms.length; }
    return c;
  }
}

// ------------------------------------------------------------------------------------------------ explorer

class Explorer {
  constructor(root, meta, arrays, host) {
    if (meta.version !== VERSION) throw new Error(`data version ${meta.version}; this script reads ${VERSION}`);
    this.root = root;
    this.meta = meta;
    this.arrays = arrays;
    this.host = host || null;
    const n = (this.n = meta.n);
    this.residues = meta.residues;
    this.rowBase = new Int32Array(n);  // packed index of (i, j) = rowBase[i] + j
    for (let i = 0; i < n; i++) this.rowBase[i] = i * n - (i * (i + 1)) / 2 - i - 1;
    this.prediction = new MapLayer("prediction", meta.maps.prediction, arrays, n);
    this.other = meta.maps.other ? new MapLayer("other", meta.maps.other, arrays, n) : null;
    this.labels = meta.labels ? arrays[meta.labels] : null;
    this.points = meta.structure ? arrays[meta.structure.points] : null;
    this.headMaps = new Map();
    const heads = meta.heads;
    if (heads) {
      for (const [key, spec] of Object.entries(heads.maps)) this.headMaps.set(key, new MapLayer(key, spec, arrays, n));
      this.thumbnails = arrays[heads.thumbnails];
    }
    this.pending = new Map();
    this.waiters = {};
    this.upper = this.prediction;
    this.lowerKind = meta.lower;
    this.range = meta.range;
    this.topK = meta.top_k;
    this.view = {x0: 0, y0: 0, w: n};
    this.pair = null;
    this.residue = null;
    this.partners = [];
    this.head = null;
    this.tooltipText = "";
    this.status3d = meta.structure ? "loading" : "none";
    this.size = meta.size || 480;
    this.build();
    this.selectPairs();
    this.drawMap();
    if (heads) {
      this.drawGrid();
      let best = -1;  // the preview starts with the best-scored head
      heads.score.forEach((v, f) => { if (v !== null && (best < 0 || v > heads.score[best])) best = f; });
      if (best >= 0) this.showThumbnail(Math.floor(best / heads.heads) + 1, best % heads.heads);
    }
  }

  // ---------------------------------------------------------------------------------------------- DOM

  el(tag, cls, parent, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  build() {
    const m = this.meta;
    const root = this.el("div", "cx", this.root);
    this.box = root;
    const bar = this.el("div", "cx-bar", root);
    this.el("span", "cx-title", bar, m.title || `contacts explorer: L = ${this.n}`);
    const rangeLabel = this.el("label", "", bar, "pairs");
    this.rangeSelect = this.el("select", "", rangeLabel);
    for (const [name, [lo, hi]] of Object.entries(m.ranges)) {
      const o = this.el("option", "", this.rangeSelect, `${name} (${lo}${hi === null ? "+" : `-${hi - 1}`})`);
      o.value = name;
    }
    this.rangeSelect.value = this.range;
    this.rangeSelect.onchange = () => this.setRange(this.rangeSelect.value);
    const kLabel = this.el("label", "", bar, "top-k");
    this.kInput = this.el("input", "", kLabel);
    Object.assign(this.kInput, {type: "number", min: 0, max: m.max_top_k, step: 1, value: this.topK});
    this.kInput.onchange = () => this.setTopK(Number(this.kInput.value));
    this.el("span", "cx-small", kLabel, `(L = ${this.n})`);
    if (this.other && this.labels) {
      const lowerLabel = this.el("label", "", bar, "below the diagonal");
      this.lowerSelect = this.el("select", "", lowerLabel);
      for (const [value, text] of [["other", this.other.label], ["labels", "structure contacts"]]) {
        this.el("option", "", this.lowerSelect, text).value = value;
      }
      this.lowerSelect.value = this.lowerKind;
      this.lowerSelect.onchange = () => this.setLower(this.lowerSelect.value);
    }
    this.mapName = this.el("span", "cx-small", bar);
    this.backButton = this.el("button", "", bar, "show the prediction");
    this.backButton.onclick = () => this.showPrediction();
    this.backButton.style.display = "none";
    const reset = this.el("button", "", bar, "reset zoom");
    reset.onclick = () => this.resetZoom();

    const main = this.el("div", "cx-main", root);
    const w = MARGIN.left + this.size + MARGIN.right, h = MARGIN.top + this.size + MARGIN.bottom;
    this.canvas = this.el("canvas", "cx-map", main);
    this.dpr = window.devicePixelRatio || 1;
    Object.assign(this.canvas, {width: Math.round(w * this.dpr), height: Math.round(h * this.dpr)});
    Object.assign(this.canvas.style, {width: `${w}px`, height: `${h}px`});
    this.image = document.createElement("canvas");
    if (m.structure) {
      this.div3d = this.el("div", "cx-3d", main);
      Object.assign(this.div3d.style, {width: `${this.size}px`, height: `${this.size}px`});
    }
    if (m.heads) this.buildGrid(this.el("div", "cx-side", main));
    const info = this.el("div", "cx-info", root);
    this.summary = this.el("div", "", info);
    this.selection = this.el("div", "", info);
    this.partnerBox = this.el("div", "cx-partners", info);
    this.note = this.el("div", "cx-note", info);
    this.tooltip = this.el("div", "cx-tooltip", root);
    this.listen();
  }

  buildGrid(side) {
    const h = this.meta.heads;
    this.cell = Math.max(8, Math.min(18, Math.floor(320 / h.heads), Math.floor(560 / h.layers)));
    this.gridMargin = {left: 26, top: 16};
    const w = this.gridMargin.left + h.heads * this.cell + 2, ht = this.gridMargin.top + h.layers * this.cell + 2;
    this.el("div", "cx-small", side, `heads: ${h.score_name || "no score (no structure)"}; click one`);
    this.grid = this.el("canvas", "cx-grid", side);
    Object.assign(this.grid, {width: Math.round(w * this.dpr), height: Math.round(ht * this.dpr)});
    Object.assign(this.grid.style, {width: `${w}px`, height: `${ht}px`});
    const bar = this.el("div", "cx-small", side);
    const colorbar = this.el("div", "cx-colorbar", bar);
    colorbar.style.background = `linear-gradient(to right, ${h.colorbar.join(", ")})`;
    const [lo, hi] = h.score_range;
    this.el("span", "", bar, h.score.some((v) => v !== null) ? `${fmt(lo, 3)} … ${fmt(hi, 3)}` : "");
    this.preview = this.el("canvas", "cx-preview", side);
    Object.assign(this.preview, {width: h.thumb, height: h.thumb});
    Object.assign(this.preview.style, {width: "96px", height: "96px"});
    this.previewText = this.el("div", "cx-small", side, "hover a head for its thumbnail");
  }

  // ---------------------------------------------------------------------------------------------- pairs

  packed(i, j) {
    return this.rowBase[i] + j;
  }

  kind(i, j) {
    if (!this.labels) return "unlabelled";
    const code = this.labels[this.packed(i, j)];
    return code === 1 ? "hit" : code === 0 ? "miss" : "unknown";
  }

  topPairs(layer) {
    const flat = layer.ranked[this.range] || new Uint32Array(0);
    const out = [];
    for (let r = 0; r < Math.min(this.topK, flat.length); r++) {
      const i = Math.floor(flat[r] / this.n), j = flat[r] - i * this.n;
      out.push({i, j, kind: this.kind(i, j), score: layer.value(i, j, this.packed(i, j))});
    }
    return out;
  }

  selectPairs() {
    this.pairs = this.topPairs(this.upper);
    this.lowerPairs = this.lowerKind === "other" ? this.topPairs(this.other) : [];
    const counts = {hit: 0, miss: 0, unknown: 0, unlabelled: 0};
    for (const p of this.pairs) counts[p.kind]++;
    this.counts = counts;
    const band = this.meta.ranges[this.range];
    const colors = this.meta.colors;
    this.summary.replaceChildren();
    this.el("span", "", this.summary,
      `${this.upper.label}: top-${this.pairs.length} pairs, ${this.range} (separation ${band[0]}` +
      `${band[1] === null ? "+" : `-${band[1] - 1}`}):`);
    for (const kind of ["hit", "miss", "unknown", "unlabelled"]) {
      if (!counts[kind] && (kind !== "hit" || !this.labels)) continue;
      const s = this.el("span", "cx-swatch", this.summary);
      s.style.borderColor = colors[kind];
      const word = {hit: "in contact", miss: "not in contact", unknown: "unknown", unlabelled: "unlabelled"}[kind];
      this.el("span", "", this.summary, `${counts[kind]} ${word}`);
    }
    if (this.view3d) this.view3d.drawPairs(this.pairs, this.upper.prob);
  }

  // ---------------------------------------------------------------------------------------------- the map

  cellPx() {
    return this.size / this.view.w;
  }

  drawMap() {
    const n = this.n, {x0, y0, w} = this.view, P = this.size, dpr = this.dpr;
    const R = Math.min(w, Math.round(P * dpr));  // pixels of the image: one per cell, or pooled
    this.resolution = R;
    const upper = new Float32Array(R * R).fill(-1);
    const lower = new Float32Array(R * R).fill(-3);
    const px = new Int32Array(w);
    for (let c = 0; c < w; c++) px[c] = Math.floor((c * R) / w);
    const lowerMap = this.lowerKind === "other" ? this.other : null;
    const labels = this.lowerKind === "labels" ? this.labels : null;
    for (let rr = 0; rr < w; rr++) {
      const r = y0 + rr, row = px[rr] * R;
      for (let cc = 0; cc < w; cc++) {
        const c = x0 + cc, at = row + px[cc];
        if (r < c) {
          const d = this.upper.display(this.rowBase[r] + c);
          if (d > upper[at]) upper[at] = d;
        } else if (r > c) {
          const k = this.rowBase[c] + r;
          let d = -3;
          if (labels) { const code = labels[k]; d = code === 1 ? 1 : code === 0 ? 0 : -1; }
          else if (lowerMap) { d = lowerMap.display(k); if (d !== d) d = -3; }
          if (d > lower[at]) lower[at] = d;
        }
      }
    }
    const image = new ImageData(R, R);
    const px8 = image.data;
    const trueRgb = hexRgb(this.meta.true_color), hl = hexRgb(HIGHLIGHT);
    const bands = BANDS.map(([lo, hi, color]) => [lo, hi, hexRgb(this.meta.range_colors[color] || color)]);
    const res = this.residue;
    const resPx = res === null ? -1 : Math.floor(((res - x0) * R) / w), resPy = res === null ? -1 : Math.floor(((res - y0) * R) / w);
    for (let py = 0; py < R; py++) {
      const rc = y0 + ((py + 0.5) * w) / R;
      for (let qx = 0; qx < R; qx++) {
        const cc = x0 + ((qx + 0.5) * w) / R, at = py * R + qx;
        let rgb;
        const ri = Math.floor(rc), ci = Math.floor(cc);
        if (ri < ci) {
          const d = upper[at];
          rgb = d < 0 ? [255, 255, 255] : [255 * (1 - d), 255 * (1 - d), 255 * (1 - d)];
        } else if (ri > ci) {
          const d = lower[at];
          if (labels) rgb = d === 1 ? trueRgb : d === -1 ? UNKNOWN : [255, 255, 255];
          else rgb = d < 0 ? [255, 255, 255] : [255 * (1 - d), 255 * (1 - d), 255 * (1 - d)];
        } else rgb = [250, 250, 250];
        const sep = Math.abs(ci - ri);
        for (const [lo, hi, tint] of bands) {
          if (sep >= lo && sep < hi) { rgb = rgb.map((v, k) => v * 0.78 + tint[k] * 0.22); break; }
        }
        if (py === resPy || qx === resPx) rgb = rgb.map((v, k) => v * 0.6 + hl[k] * 0.4);
        px8[4 * at] = rgb[0]; px8[4 * at + 1] = rgb[1]; px8[4 * at + 2] = rgb[2]; px8[4 * at + 3] = 255;
      }
    }
    this.image.width = R;
    this.image.height = R;
    this.image.getContext("2d").putImageData(image, 0, 0);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, MARGIN.left, MARGIN.top, P, P);
    this.drawMarks(ctx);
    this.drawAxes(ctx);
    this.mapName.textContent = this.head ? `map: ${this.upper.label} (symmetrized, APC)` : "";
  }

  X(c) { return MARGIN.left + (c - this.view.x0) * this.cellPx(); }
  Y(r) { return MARGIN.top + (r - this.view.y0) * this.cellPx(); }

  visible(r, c) {
    const {x0, y0, w} = this.view;
    return c >= x0 && c < x0 + w && r >= y0 && r < y0 + w;
  }

  drawMarks(ctx) {
    const s = this.cellPx(), side = Math.max(s, 4);
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, this.size, this.size);
    ctx.clip();
    ctx.lineWidth = 1.2;
    const mark = (r, c, color) => {
      if (!this.visible(r, c)) return;
      ctx.strokeStyle = color;
      ctx.strokeRect(this.X(c) + s / 2 - side / 2, this.Y(r) + s / 2 - side / 2, side, side);
    };
    for (const p of this.pairs) mark(p.i, p.j, this.meta.colors[p.kind]);
    for (const p of this.lowerPairs) mark(p.j, p.i, this.meta.colors[p.kind]);
    if (this.pair) {
      const [i, j] = this.pair;
      for (const [r, c] of [[i, j], [j, i]]) {
        if (!this.visible(r, c)) continue;
        const x = this.X(c) + s / 2, y = this.Y(r) + s / 2, rad = Math.max(s, 6) / 2 + 4;
        for (const [color, width] of [["white", 4], ["black", 2]]) {
          ctx.strokeStyle = color;
          ctx.lineWidth = width;
          ctx.beginPath();
          ctx.arc(x, y, rad, 0, 2 * Math.PI);
          ctx.stroke();
        }
      }
    }
    ctx.restore();
  }

  drawAxes(ctx) {
    const {x0, y0, w} = this.view, s = this.cellPx();
    ctx.fillStyle = "#333";
    ctx.font = "10px sans-serif";
    const steps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
    const step = steps.find((t) => w / t <= 8) || 10000;
    const numbers = this.meta.numbers;
    const letters = s >= 9 && this.meta.sequence;
    const offset = letters ? 12 : 0;
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    for (let c = Math.ceil((x0 + 1) / step) * step - 1; c < x0 + w; c += step) {
      if (c < x0) continue;
      ctx.fillText(numbers[c], this.X(c) + s / 2, MARGIN.top - 4 - offset);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let r = Math.ceil((y0 + 1) / step) * step - 1; r < y0 + w; r += step) {
      if (r < y0) continue;
      ctx.fillText(numbers[r], MARGIN.left - 3 - offset, this.Y(r) + s / 2);
    }
    if (letters) {
      ctx.font = `${Math.min(11, Math.floor(s))}px monospace`;
      ctx.textAlign = "center";
      for (let c = x0; c < x0 + w; c++) ctx.fillText(this.meta.sequence[c], this.X(c) + s / 2, MARGIN.top - 6);
      for (let r = y0; r < y0 + w; r++) ctx.fillText(this.meta.sequence[r], MARGIN.left - 7, this.Y(r) + s / 2);
    }
  }

  // ---------------------------------------------------------------------------------------------- text

  distance(i, j) {
    if (!this.points) return null;
    const a = this.points, dx = a[3 * i] - a[3 * j], dy = a[3 * i + 1] - a[3 * j + 1], dz = a[3 * i + 2] - a[3 * j + 2];
    return Math.sqrt(dx * dx + dy * dy + dz * dz);
  }

  bandName(sep) {
    for (const [name, [lo, hi]] of Object.entries(this.meta.ranges)) {
      if (name !== "all" && sep >= lo && (hi === null || sep < hi)) return name;
    }
    return sep < this.meta.ranges.all[0] ? "not scored" : "";
  }

  pairText(i, j) {  // i < j
    const k = this.packed(i, j), sep = j - i;
    const lines = [`${this.residues[i]} – ${this.residues[j]}  (separation ${sep}, ${this.bandName(sep)})`];
    lines.push(`${this.upper.label}: ${this.upper.text(i, j, k)}`);
    if (this.upper !== this.prediction) lines.push(`${this.prediction.label}: ${this.prediction.text(i, j, k)}`);
    if (this.other) lines.push(`${this.other.label}: ${this.other.text(i, j, k)}`);
    if (this.points) {
      const d = this.distance(i, j);
      let line = `${this.meta.atom} distance ${Number.isNaN(d) ? "unknown" : `${d.toFixed(2)} Å`}`;
      if (this.labels) {
        const code = this.labels[k];
        line += code === 1 ? ": contact" : code === 0 ? ": no contact" : ": label unknown";
      }
      lines.push(line);
    } else if (this.labels) {
      const code = this.labels[k];
      lines.push(code === 1 ? "contact" : code === 0 ? "no contact" : "label unknown");
    }
    return lines.join("\n");
  }

  // ---------------------------------------------------------------------------------------------- events

  cellAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left - MARGIN.left, my = event.clientY - rect.top - MARGIN.top;
    if (mx < 0 || my < 0 || mx >= this.size || my >= this.size) return null;
    const s = this.cellPx();
    return [this.view.y0 + Math.floor(my / s), this.view.x0 + Math.floor(mx / s)];
  }

  showTooltip(event, text) {
    this.tooltipText = text;
    const t = this.tooltip;
    if (!text) { t.style.display = "none"; return; }
    t.textContent = text;
    t.style.display = "block";
    const box = this.box.getBoundingClientRect();
    t.style.left = `${event.clientX - box.left + 14}px`;
    t.style.top = `${event.clientY - box.top + 14}px`;
  }

  listen() {
    const canvas = this.canvas;
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => {
      drag = {x: e.clientX, y: e.clientY, view: {...this.view}, moved: false};
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (drag && (drag.moved || Math.hypot(e.clientX - drag.x, e.clientY - drag.y) > 3)) {
        drag.moved = true;
        const s = this.cellPx();
        this.zoom(drag.view.x0 - Math.round((e.clientX - drag.x) / s),
                  drag.view.y0 - Math.round((e.clientY - drag.y) / s), drag.view.w);
        return;
      }
      const cell = this.cellAt(e);
      if (!cell) { this.showTooltip(e, ""); return; }
      const [r, c] = cell;
      this.showTooltip(e, r === c ? this.residues[r] : this.pairText(Math.min(r, c), Math.max(r, c)));
    });
    canvas.addEventListener("pointerup", (e) => {
      const moved = drag && drag.moved;
      drag = null;
      if (moved) return;
      const cell = this.cellAt(e);
      if (!cell) return;
      const [r, c] = cell;
      if (r === c) this.selectResidue(r);
      else this.select(Math.min(r, c), Math.max(r, c));
    });
    canvas.addEventListener("pointerleave", (e) => this.showTooltip(e, ""));
    canvas.addEventListener("dblclick", () => this.resetZoom());
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const cell = this.cellAt(e);
      if (!cell) return;
      const [r, c] = cell, {x0, y0, w} = this.view;
      const w2 = Math.round(w * (e.deltaY > 0 ? 1.25 : 0.8));
      this.zoom(Math.round(c - ((c - x0) * w2) / w), Math.round(r - ((r - y0) * w2) / w), w2);
    }, {passive: false});
    if (this.grid) {
      this.grid.addEventListener("pointermove", (e) => {
        const head = this.headAt(e);
        if (!head) { this.showTooltip(e, ""); return; }
        this.showTooltip(e, this.headText(...head));
        this.showThumbnail(...head);
      });
      this.grid.addEventListener("pointerleave", (e) => this.showTooltip(e, ""));
      this.grid.addEventListener("click", (e) => {
        const head = this.headAt(e);
        if (head) this.selectHead(...head);
      });
    }
  }

  // ---------------------------------------------------------------------------------------------- actions

  zoom(x0, y0, w) {
    const n = this.n;
    w = Math.max(Math.min(n, 16), Math.min(n, Math.round(w)));
    this.view = {x0: Math.max(0, Math.min(n - w, Math.round(x0))), y0: Math.max(0, Math.min(n - w, Math.round(y0))), w};
    this.drawMap();
    return this.view;
  }

  resetZoom() {
    return this.zoom(0, 0, this.n);
  }

  reveal(r, c) {  // keep a selected cell on screen
    if (this.visible(r, c)) return;
    const w = this.view.w;
    this.view = {...this.view, x0: Math.max(0, Math.min(this.n - w, c - (w >> 1))),
                 y0: Math.max(0, Math.min(this.n - w, r - (w >> 1)))};
  }

  check(p, what) {
    if (!Number.isInteger(p) || p < 0 || p >= this.n) throw new RangeError(`${what}=${p} is outside 0..${this.n - 1}`);
  }

  select(i, j) {
    this.check(i, "i");
    this.check(j, "j");
    if (i === j) return this.selectResidue(i);
    if (i > j) [i, j] = [j, i];
    this.pair = [i, j];
    this.residue = null;
    this.partners = [];
    this.reveal(i, j);
    this.drawMap();
    this.selection.textContent = `selected: ${this.pairText(i, j).replaceAll("\n", "; ")}`;
    this.partnerBox.replaceChildren();
    if (this.view3d) this.view3d.highlight([i, j]);
    return this.state();
  }

  selectResidue(r) {
    this.check(r, "residue");
    this.residue = r;
    this.pair = null;
    const [lo, hi] = this.meta.ranges[this.range];
    const layer = this.upper, found = [];
    for (let j = 0; j < this.n; j++) {
      const sep = Math.abs(j - r);
      if (sep < lo || (hi !== null && sep >= hi)) continue;
      const a = Math.min(r, j), b = Math.max(r, j), v = layer.value(a, b, this.packed(a, b));
      if (Number.isFinite(v)) found.push([v, j]);
    }
    found.sort((x, y) => y[0] - x[0] || x[1] - y[1]);  // best first, ties by position
    this.partners = found.slice(0, PARTNERS).map(([score, j]) => ({j, score}));
    this.drawMap();
    this.selection.textContent = `selected: ${this.residues[r]}; best partners by ${layer.label} (${this.range}):`;
    this.partnerBox.replaceChildren();
    for (const {j, score} of this.partners) {
      const a = Math.min(r, j), b = Math.max(r, j), kind = this.kind(a, b);
      const button = this.el("button", "", this.partnerBox, `${this.residues[j]} ${fmt(score, 3)}`);
      button.style.borderColor = this.meta.colors[kind];
      button.title = this.pairText(a, b);
      button.onclick = () => this.select(a, b);
    }
    if (this.view3d) this.view3d.highlight([r]);
    return this.state();
  }

  clickAtom(residue) {
    if (residue === undefined || !this.view3d) return;
    const p = this.view3d.position[residue];
    if (p < 0) { this.note.textContent = "that residue is not in the map's sequence"; return; }
    this.selectResidue(p);
  }

  setTopK(k) {
    k = Math.max(0, Math.min(this.meta.max_top_k, Math.round(Number(k)) || 0));
    this.topK = k;
    this.kInput.value = k;
    this.selectPairs();
    this.drawMap();
    return this.state();
  }

  setRange(name) {
    if (!(name in this.meta.ranges)) throw new RangeError(`range ${name} is not one of ${Object.keys(this.meta.ranges)}`);
    this.range = name;
    this.rangeSelect.value = name;
    this.selectPairs();
    if (this.residue !== null) this.selectResidue(this.residue);
    else this.drawMap();
    return this.state();
  }

  setLower(kind) {
    if (!((kind === "other" && this.other) || (kind === "labels" && this.labels))) {
      throw new RangeError(`nothing to draw below the diagonal as ${kind}`);
    }
    this.lowerKind = kind;
    if (this.lowerSelect) this.lowerSelect.value = kind;
    this.selectPairs();
    this.drawMap();
    return this.state();
  }

  useMap(layer, head) {
    this.upper = layer;
    this.head = head;
    this.backButton.style.display = head ? "" : "none";
    this.selectPairs();
    if (this.residue !== null) this.selectResidue(this.residue);
    else this.drawMap();
    if (this.grid) this.drawGrid();
  }

  showPrediction() {
    this.useMap(this.prediction, null);
    return this.state();
  }

  // ---------------------------------------------------------------------------------------------- heads

  headAt(event) {
    const h = this.meta.heads, rect = this.grid.getBoundingClientRect();
    const x = event.clientX - rect.left - this.gridMargin.left, y = event.clientY - rect.top - this.gridMargin.top;
    const head = Math.floor(x / this.cell), layer = Math.floor(y / this.cell) + 1;
    return head >= 0 && head < h.heads && layer >= 1 && layer <= h.layers ? [layer, head] : null;
  }

  headText(layer, head) {
    const h = this.meta.heads, v = h.score[(layer - 1) * h.heads + head];
    const where = this.headMaps.has(`${layer},${head}`) ? "full map here"
      : this.host ? "full map fetched on click" : "thumbnail only in this page";
    return `layer ${layer}, head ${head}\n${h.score_name || "score"}: ${v === null ? "n/a" : fmt(v, 3)}\n${where}`;
  }

  showThumbnail(layer, head) {
    const h = this.meta.heads, t = h.thumb, f = (layer - 1) * h.heads + head;
    const image = new ImageData(t, t), src = this.thumbnails.subarray(f * t * t, (f + 1) * t * t);
    for (let k = 0; k < t * t; k++) {
      const g = 255 - src[k];
      image.data[4 * k] = g; image.data[4 * k + 1] = g; image.data[4 * k + 2] = g; image.data[4 * k + 3] = 255;
    }
    this.preview.getContext("2d").putImageData(image, 0, 0);
    this.previewText.textContent = `layer ${layer}, head ${head} (thumbnail, |i-j| >= 6)`;
  }

  drawGrid() {
    const h = this.meta.heads, c = this.cell, {left, top} = this.gridMargin;
    const ctx = this.grid.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.grid.width, this.grid.height);
    ctx.font = "9px sans-serif";
    ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    for (let head = 0; head < h.heads; head += h.heads > 12 ? 5 : 1) ctx.fillText(String(head), left + (head + 0.5) * c, top - 4);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let layer = 1; layer <= h.layers; layer++) {
      if (layer === 1 || layer % 5 === 0 || layer === h.layers) ctx.fillText(String(layer), left - 3, top + (layer - 0.5) * c);
    }
    for (let layer = 1; layer <= h.layers; layer++) {
      for (let head = 0; head < h.heads; head++) {
        const x = left + head * c, y = top + (layer - 1) * c;
        ctx.fillStyle = h.colors[(layer - 1) * h.heads + head] || "#dddddd";
        ctx.fillRect(x, y, c - 1, c - 1);
        if (this.headMaps.has(`${layer},${head}`)) {
          ctx.fillStyle = "white";
          ctx.beginPath();
          ctx.arc(x + (c - 1) / 2, y + (c - 1) / 2, Math.max(1.5, c / 8), 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    if (this.head) {
      const [layer, head] = this.head;
      ctx.strokeStyle = "#d00";
      ctx.lineWidth = 2;
      ctx.strokeRect(left + head * c - 1, top + (layer - 1) * c - 1, c + 1, c + 1);
    }
  }

  async selectHead(layer, head) {
    const h = this.meta.heads;
    if (!h) throw new Error("this page has no attention heads");
    if (!(Number.isInteger(layer) && layer >= 1 && layer <= h.layers && Number.isInteger(head) && head >= 0 && head < h.heads)) {
      throw new RangeError(`layer ${layer}, head ${head} is outside layers 1..${h.layers}, heads 0..${h.heads - 1}`);
    }
    const key = `${layer},${head}`;
    this.showThumbnail(layer, head);
    if (!this.headMaps.has(key)) {
      if (!this.host) {
        this.note.textContent = `layer ${layer}, head ${head}: this page holds only its thumbnail (shown beside the ` +
          `grid); Explorer.write_html(path, heads=[(${layer}, ${head})]) includes its full map.`;
        return false;
      }
      if (!this.pending.has(key)) {
        this.pending.set(key, new Promise((resolve) => {
          this.waiters[key] = resolve;
          setTimeout(() => {  // a saved notebook has no kernel to answer
            if (this.waiters[key] !== resolve) return;
            delete this.waiters[key];
            this.pending.delete(key);
            this.note.textContent = `layer ${layer}, head ${head}: no answer from the kernel; its full map comes ` +
              "only from a running notebook (or write_html(path, heads=[...]))";
            resolve(false);
          }, 20000);
        }));
        this.host.request(layer, head);
      }
      this.note.textContent = `fetching layer ${layer}, head ${head} from the kernel…`;
      const ok = await this.pending.get(key);
      if (!ok) return false;
      this.note.textContent = "";
    }
    this.note.textContent = "";
    this.useMap(this.headMaps.get(key), [layer, head]);
    return true;
  }

  async receive(msg, buffers) {  // a head's full map from the kernel
    if (!msg || msg.type !== "head") return;
    const key = `${msg.layer},${msg.head}`;
    const resolve = this.waiters[key];
    delete this.waiters[key];
    this.pending.delete(key);
    if (msg.error) { this.note.textContent = `layer ${msg.layer}, head ${msg.head}: ${msg.error}`; resolve?.(false); return; }
    const raw = Object.fromEntries(msg.buffers.map((name, k) => [name, buffers[k]]));
    const arrays = await decodeArrays(msg.arrays, raw);
    this.headMaps.set(key, new MapLayer(key, msg.map, arrays, this.n));
    if (this.grid) this.drawGrid();
    resolve?.(true);
  }

  // ---------------------------------------------------------------------------------------------- 3D

  async start3D() {
    const m = this.meta;
    if (!m.structure) return;
    let lib;
    try {
      lib = await load3Dmol(m.js3dmol);
    } catch (error) {
      this.status3d = `failed: ${error.message}`;
      const where = m.js3dmol === "inline" ? "this page" : m.js3dmol.startsWith("data:") ? "the inlined file"
        : m.js3dmol;
      const text = `3D view: 3Dmol.js could not be loaded from ${where}, so the structure is not shown (the map ` +
        `works without it). Offline, point $${m.js_env} at a local 3Dmol-min.js (npm install 3dmol) or pass js=PATH.`;
      this.div3d.textContent = text;
      this.div3d.classList.add("cx-note");
      this.note.textContent = text;
      return;
    }
    try {
      const view = new View3D(this, this.div3d, lib, m.structure, this.arrays);
      view.drawPairs(this.pairs, this.upper.prob, false);
      view.viewer.zoomTo();
      view.viewer.render();  // once: with software WebGL each render of the cartoon costs
      this.view3d = view;
      if (this.pair) view.highlight(this.pair);
      else if (this.residue !== null) view.highlight([this.residue]);
      this.status3d = "ready";
    } catch (error) {
      this.status3d = `failed: ${error.message}`;
      this.note.textContent = `3D view: ${error.message}`;
    }
  }

  // ---------------------------------------------------------------------------------------------- handle

  state() {
    return {
      n: this.n,
      map: this.upper.key,
      mapLabel: this.upper.label,
      head: this.head,
      lower: this.lowerKind,
      range: this.range,
      topK: this.topK,
      pairs: this.pairs.map((p) => [p.i, p.j, p.kind]),
      counts: {...this.counts},
      pair: this.pair,
      residue: this.residue,
      partners: this.partners.map((p) => [p.j, p.score]),
      view: {...this.view},
      render: {cells: this.view.w, pixels: this.resolution, pooling: this.view.w / this.resolution},
      tooltip: this.tooltipText,
      selection: this.selection.textContent,
      note: this.note.textContent,
      viewer3d: this.status3d,
      heads: this.meta.heads ? [...this.headMaps.keys()] : null,
      timings: this.timings || null,
    };
  }

  cellCenter(i, j) {  // client coordinates of cell (row i, column j), revealing it first
    this.check(i, "i");
    this.check(j, "j");
    if (!this.visible(i, j)) { this.reveal(i, j); this.drawMap(); }
    const rect = this.canvas.getBoundingClientRect(), s = this.cellPx();
    return {x: rect.left + this.X(j) + s / 2, y: rect.top + this.Y(i) + s / 2};
  }

  headCenter(layer, head) {
    const rect = this.grid.getBoundingClientRect(), c = this.cell;
    return {x: rect.left + this.gridMargin.left + (head + 0.5) * c, y: rect.top + this.gridMargin.top + (layer - 0.5) * c};
  }

  mapDigest() {  // FNV-1a over the map's pixels: tells one picture from another
    const ctx = this.canvas.getContext("2d");
    const data = ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    let h = 0x811c9dc5;
    for (let k = 0; k < data.length; k += 4) { h ^= data[k] | (data[k + 1] << 8); h = Math.imul(h, 16777619) >>> 0; }
    return h.toString(16);
  }

  handle(ready) {
    const x = this;
    return {
      ready,
      select: (i, j) => x.select(i, j),
      selectResidue: (r) => x.selectResidue(r),
      selectHead: (layer, head) => x.selectHead(layer, head),
      showPrediction: () => x.showPrediction(),
      setTopK: (k) => x.setTopK(k),
      setRange: (name) => x.setRange(name),
      setLower: (kind) => x.setLower(kind),
      zoom: (x0, y0, w) => (x.zoom(x0, y0, w), x.state()),
      resetZoom: () => (x.resetZoom(), x.state()),
      state: () => x.state(),
      cellCenter: (i, j) => x.cellCenter(i, j),
      headCenter: (layer, head) => x.headCenter(layer, head),
      mapDigest: () => x.mapDigest(),
      get viewer() { return x.view3d ? x.view3d.viewer : null; },
    };
  }
}

// ------------------------------------------------------------------------------------------------ hosts

// A saved page (or any host): data = {meta, arrays} with arrays as base64 strings, bytes or DataViews;
// host = {request(layer, head), listen(fn) -> unlisten} where a kernel can send head maps.
export async function mount(el, data, host) {
  const t0 = performance.now();
  el.classList.add("contacts-explorer");  // where scripts find the handle: .contacts-explorer's contactsExplorer
  const arrays = await decodeArrays(data.meta.arrays, data.arrays);
  const t1 = performance.now();
  const explorer = new Explorer(el, data.meta, arrays, host);
  const t2 = performance.now();
  const unlisten = host && host.listen ? host.listen((msg, buffers) => explorer.receive(msg, buffers)) : null;
  // let the map be painted before the 3D view takes the main thread (seconds for a large chain in software WebGL)
  const painted = new Promise((resolve) => { requestAnimationFrame(() => resolve()); setTimeout(resolve, 100); });
  const ready = painted.then(() => explorer.start3D()).then(() => {
    const t3 = performance.now();
    // milliseconds from the script's start (the page's own load comes before: performance.now() at t0)
    explorer.timings = {start: t0, decode: t1 - t0, map: t2 - t1, structure: t3 - t2, total: t3 - t0};
    el.dataset.contactsExplorer = "ready";  // for scripts that wait on the DOM: .contacts-explorer[data-contacts-explorer=ready]
    el.dispatchEvent(new CustomEvent("contacts-explorer-ready", {bubbles: true}));
    return explorer.state();
  });
  el.contactsExplorer = explorer.handle(ready);
  await ready;
  explorer.destroy = () => { if (unlisten) unlisten(); el.replaceChildren(); delete el.contactsExplorer; };
  return explorer;
}

// anywidget (JupyterLab, Notebook 7, VS Code, Colab): the same data, synced from the kernel; heads that the
// notebook's page does not hold are asked for over the widget's message channel.
async function render({model, el}) {
  const host = {
    request: (layer, head) => model.send({type: "head", layer, head}),
    listen(fn) {
      const callback = (msg, buffers) => fn(msg, buffers);
      model.on("msg:custom", callback);
      return () => model.off("msg:custom", callback);
    },
  };
  const meta = model.get("_meta");
  const explorer = await mount(el, {meta, arrays: model.get("_arrays")}, meta.live ? host : null);
  return () => explorer.destroy();
}

export default {render};
