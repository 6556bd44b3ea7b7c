/* exsim teaching page: draws the runs of the embedded document side by side and steps
   through them. exsim's own code (no framework, no build step); it reads only the JSON in
   #exsim-data and fetches nothing. Every figure shown comes from the document's exact
   decimal strings; numbers are parsed to floats only to draw and to format for reading. */
"use strict";

(function () {
  const DOC = JSON.parse(document.getElementById("exsim-data").textContent);
  const STEPS = DOC.steps || [];
  const N = STEPS.length;
  const RUNS = DOC.runs || [];
  const PALETTE = ["#0060a8", "#c2410c", "#007a55", "#a0307a", "#8a5a00", "#3b3bb8", "#6b4f2a", "#b00040"];
  // the columns, most telling first (the margin ratio: how close to liquidation)
  const FIELDS_ACCOUNT = ["margin_ratio", "equity", "margin_balance", "maint_margin", "wallet"];
  const FIELDS_POSITION = ["qty", "liquidation_price", "distance_fraction", "scope_margin_ratio", "unrealized_pnl", "maint_margin", "entry_price"];
  const LABELS = {
    equity: "equity", wallet: "wallet", margin_balance: "margin balance", maint_margin: "maint. margin",
    margin_ratio: "margin ratio", qty: "qty", entry_price: "entry", unrealized_pnl: "unrealized PnL",
    liquidation_price: "liq. price", distance_fraction: "distance", scope_margin_ratio: "scope ratio",
  };
  const KIND = {
    equity: "money", wallet: "money", margin_balance: "money", maint_margin: "money", unrealized_pnl: "money",
    margin_ratio: "pct", distance_fraction: "pct", scope_margin_ratio: "pct",
    entry_price: "price", liquidation_price: "price", mark: "price", qty: "qty",
  };

  let current = 0;
  let timer = null;
  const plots = [];          // every Plot, redrawn on resize, cursor moved on step
  const updaters = [];       // functions (k) => void run on every step

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /* index of the last entry with step[i] <= k, or -1 (a series holds until its next entry) */
  function entryAt(steps, k) {
    let lo = 0, hi = steps.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (steps[mid] <= k) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans;
  }
  function valueAt(series, field, k) {
    const i = entryAt(series.step, k);
    if (i < 0) return "";
    const v = series[field] ? series[field][i] : null;
    return v === null || v === undefined ? "" : String(v);
  }
  function num(text) {
    if (text === null || text === undefined || text === "") return NaN;
    return parseFloat(text);
  }

  /* "1234567.8900" -> "1,234,567.89" (display only; the exact string stays in data-value) */
  function group(intPart) {
    return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function fmtExact(text) {  // an exact decimal with thousands separators, trailing zeros trimmed
    if (text === "") return "—";
    const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
    if (!m) return text;
    const frac = (m[3] || "").replace(/0+$/, "");
    return (m[1] ? "−" : "") + group(m[2]) + (frac ? "." + frac : "");
  }
  function fmtMoney(text) {
    if (text === "") return "—";
    const x = num(text);
    if (!isFinite(x)) return text;
    const s = Math.abs(x).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return (x < 0 && s !== "0.00" ? "−" : "") + s;
  }
  function fmtPrice(text) {
    if (text === "") return "—";
    const x = num(text);
    if (!isFinite(x)) return text;
    const m = /\.(\d*)$/.exec(text);
    const places = m ? m[1].replace(/0+$/, "").length : 0;
    const keep = Math.abs(x) >= 100 ? Math.min(places, 2) : Math.min(places, 6);
    const s = Math.abs(x).toLocaleString("en-US", { minimumFractionDigits: keep, maximumFractionDigits: keep });
    return (x < 0 ? "−" : "") + s;
  }
  function fmtPct(text) {
    if (text === "") return "—";
    const x = num(text);
    if (!isFinite(x)) return text;
    const p = x * 100;
    const places = Math.abs(p) >= 100 ? 1 : 2;
    return (p < 0 ? "−" : "") + Math.abs(p).toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places }) + " %";
  }
  function fmt(field, text) {
    const kind = KIND[field];
    if (kind === "money") return fmtMoney(text);
    if (kind === "pct") return fmtPct(text);
    if (kind === "price") return fmtPrice(text);
    return fmtExact(text);
  }
  /* a figure's text with each number grouped and its trailing zeros trimmed (still exact) */
  function fmtFigure(text) {
    return String(text).replace(/-?\d+(?:\.\d+)?/g, (m) => (m.length >= 5 || m.includes(".") ? fmtExact(m) : m));
  }
  function fmtAxis(x, span) {
    if (Math.abs(x) < Math.abs(span) * 1e-9) x = 0;  // (a tick at 0 computed as -1e-13)
    const a = Math.abs(x);
    if (span >= 1000 || a >= 100000) return Math.round(x).toLocaleString("en-US");
    const places = span >= 100 ? 0 : span >= 10 ? 1 : span >= 1 ? 2 : span >= 0.01 ? 4 : 6;
    return x.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  /* the clock of a step: UTC time (one period) or time since each run's start */
  const T0_MS = Number(BigInt(DOC.t0_ns || "0") / 1000000n);
  function utcText(ms) {
    const d = new Date(ms);
    if (isNaN(d.getTime())) return "?";
    return d.toISOString().replace("T", " ").replace("Z", " UTC");
  }
  function sinceText(ms) {
    const sign = ms < 0 ? "−" : "+";
    let t = Math.abs(ms);
    const h = Math.floor(t / 3600000); t -= h * 3600000;
    const m = Math.floor(t / 60000); t -= m * 60000;
    const s = (t / 1000).toFixed(3).padStart(6, "0");
    return `${sign}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${s}`;
  }
  function runClock(run, k) {
    const ms = T0_MS + Number(BigInt(run.t0_ns || "0") / 1000000n) + STEPS[k][0];
    return utcText(ms);
  }
  function stepClock(k) {
    if (!N) return "";
    return DOC.aligned === "start" ? sinceText(STEPS[k][0]) + " since each run's start" : utcText(T0_MS + STEPS[k][0]);
  }
  function shortClock(k) {  // axis tick labels
    if (DOC.aligned === "start") return sinceText(STEPS[k][0]).slice(0, 9);
    const span = N ? STEPS[N - 1][0] - STEPS[0][0] : 0;
    const full = utcText(T0_MS + STEPS[k][0]);
    if (span >= 2 * 86400000) return full.slice(5, 16);
    if (span >= 120000) return full.slice(11, 19);
    return full.slice(11, 23);
  }

  // ------------------------------------------------------------------ accounts: named vs population
  function populationPrefixes(accounts) {
    const counts = new Map();
    for (const a of accounts) {
      const m = /^(.*?)[-_ ]?\d+$/.exec(a.name || "");
      if (m) counts.set(m[1], (counts.get(m[1]) || 0) + 1);
    }
    return new Set([...counts].filter(([, c]) => c > 5).map(([p]) => p));
  }
  for (const run of RUNS) {
    const pops = populationPrefixes(run.accounts || []);
    for (const a of run.accounts || []) {
      const m = /^(.*?)[-_ ]?\d+$/.exec(a.name || "");
      a._named = !(m && pops.has(m[1]));
    }
    run._last = -1;  // the run's last step (a shorter run of a side-by-side page has ended after it)
    for (const a of run.accounts || []) if (a.step.length) run._last = Math.max(run._last, a.step[a.step.length - 1]);
    for (const p of Object.values(run.prices || {})) if (p.step.length) run._last = Math.max(run._last, p.step[p.step.length - 1]);
    run._liqBy = new Map();  // account -> [liquidation]
    for (const l of run.liquidations || []) {
      if (!run._liqBy.has(l.account)) run._liqBy.set(l.account, []);
      run._liqBy.get(l.account).push(l);
    }
  }
  const colorOf = new Map();  // account id -> colour (same in every run)
  {
    const ids = [];
    for (const run of RUNS) for (const a of run.accounts || []) if (a._named && !ids.includes(a.account)) ids.push(a.account);
    ids.sort((x, y) => x - y);
    ids.forEach((id, i) => colorOf.set(id, PALETTE[i % PALETTE.length]));
  }
  const FAINT = "rgba(90, 90, 90, 0.28)";
  function accountColor(run, id) {
    return colorOf.get(id) || FAINT;
  }
  function isNamed(run, id) {
    const a = (run.accounts || []).find((x) => x.account === id);
    return a ? a._named : false;
  }

  // ------------------------------------------------------------------ plots
  /* A Plot: one canvas, its static picture drawn once per size into an offscreen canvas;
     stepping only copies it back and draws the cursor. */
  class Plot {
    constructor(canvas, draw, run) {
      this.run = run;
      this.canvas = canvas;
      this.draw = draw;          // (ctx, frame) => void; frame has x(k), y(v), hit list
      this.off = document.createElement("canvas");
      this.hits = [];
      this.frame = null;
      canvas.addEventListener("pointerdown", (e) => this.pointer(e, true));
      canvas.addEventListener("pointermove", (e) => this.pointer(e, false));
    }
    layout() {
      const dpr = window.devicePixelRatio || 1;
      const w = Math.max(200, this.canvas.clientWidth);
      const h = Math.max(120, this.canvas.clientHeight);
      for (const c of [this.canvas, this.off]) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const ctx = this.off.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const left = 88, right = 12, top = 10, bottom = 30;
      const pw = w - left - right, ph = h - top - bottom;
      const band = pw / Math.max(N, 1);
      this.hits = [];
      this.frame = {
        w, h, left, top, pw, ph, band, dpr, hits: this.hits, run: this.run,
        x: (k) => left + k * band,            // the start of step k's band
        xc: (k) => left + (k + 0.5) * band,   // its centre
        k: (px) => Math.min(N - 1, Math.max(0, Math.floor((px - left) / band))),
      };
      this.draw(ctx, this.frame);
      this.cursor(current);
    }
    cursor(k) {
      if (!this.frame) return;
      const f = this.frame;
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      ctx.drawImage(this.off, 0, 0);
      ctx.setTransform(f.dpr, 0, 0, f.dpr, 0, 0);
      const x0 = f.x(k), bw = Math.max(f.band, 2);
      ctx.fillStyle = "rgba(255, 196, 0, 0.28)";
      ctx.fillRect(x0, f.top, bw, f.ph);
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(f.xc(k), f.top);
      ctx.lineTo(f.xc(k), f.top + f.ph);
      ctx.stroke();
    }
    hitAt(e) {
      const r = this.canvas.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      let best = null, bestD = 10 * 10;
      for (const h of this.hits) {
        const d = (h.x - px) ** 2 + (h.y - py) ** 2;
        if (d <= bestD) { best = h; bestD = d; }
      }
      return { best, px, py };
    }
    pointer(e, down) {
      if (!this.frame || !N) return;
      const { best, px } = this.hitAt(e);
      if (!down) {
        this.canvas.style.cursor = best ? "pointer" : "crosshair";
        if (!(e.buttons & 1)) return;
      }
      if (down && best) {
        // markers drawn on one spot (a cascade round liquidates many at once): list them all
        const same = this.hits.filter((h) => Math.abs(h.x - best.x) < 1 && Math.abs(h.y - best.y) < 1).map((h) => h.liq);
        if (same.length > 1) showSeveral(best.run, same); else showLiquidation(best.run, best.liq);
        document.getElementById("explain").scrollIntoView({ block: "nearest" });
        return;
      }
      if (px >= this.frame.left) setStep(this.frame.k(px));
    }
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  /* axes, grid, cascade shading and time ticks; returns y(v) for the range */
  function axes(ctx, f, lo, hi, yfmt) {
    if (!(hi > lo)) { const pad = Math.abs(lo) * 0.01 || 1; lo -= pad; hi += pad; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const y = (v) => f.top + f.ph - ((v - lo) / (hi - lo)) * f.ph;
    f.y = y;
    f.lo = lo; f.hi = hi;
    ctx.fillStyle = "#fff";
    ctx.fillRect(f.left, f.top, f.pw, f.ph);
    // a cascade's rounds (generation > 0) are shaded: one instant, several steps
    ctx.fillStyle = "rgba(255, 120, 0, 0.10)";
    for (let k = 0; k < N; k++) if (STEPS[k][1] > 0) ctx.fillRect(f.x(k), f.top, Math.max(f.band, 1), f.ph);
    ctx.font = "14px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    ctx.strokeStyle = "#e2e2e2";
    ctx.lineWidth = 1;
    for (const v of niceTicks(lo, hi, Math.max(2, Math.floor(f.ph / 40)))) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(f.left, yy); ctx.lineTo(f.left + f.pw, yy); ctx.stroke();
      ctx.fillStyle = "#222";
      ctx.fillText(yfmt(v, hi - lo), f.left - 6, yy);
    }
    // time ticks: evenly spaced steps, labelled with their clock (and round)
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const count = Math.max(2, Math.floor(f.pw / 120));
    let last = "", lastX = -1e9;
    for (let i = 0; i < count && N; i++) {
      const k = Math.round((i * (N - 1)) / Math.max(count - 1, 1));
      let label = shortClock(k);
      if (STEPS[k][1] > 0) label += " g" + STEPS[k][1];
      const xx = f.xc(k);
      if (label === last || xx - lastX < ctx.measureText(label).width + 16) continue;
      ctx.fillStyle = "#222";
      const half = ctx.measureText(label).width / 2;
      ctx.fillText(label, Math.min(Math.max(xx, f.left + half), f.left + f.pw - half), f.top + f.ph + 6);
      ctx.strokeStyle = "#aaa";
      ctx.beginPath(); ctx.moveTo(xx, f.top + f.ph); ctx.lineTo(xx, f.top + f.ph + 4); ctx.stroke();
      last = label; lastX = xx;
    }
    ctx.strokeStyle = "#555";
    ctx.strokeRect(f.left + 0.5, f.top + 0.5, f.pw - 1, f.ph - 1);
    return y;
  }

  /* a step line: each entry holds from its step's band to the next entry's */
  function stepLine(ctx, f, steps, values, style) {
    if (style.end === undefined && f.run) style.end = f.run._last + 1;  // a run that ended earlier stops there
    ctx.save();
    ctx.beginPath();
    ctx.rect(f.left, f.top, f.pw, f.ph);
    ctx.clip();
    ctx.strokeStyle = style.color;
    ctx.lineWidth = style.width || 1.5;
    ctx.setLineDash(style.dash || []);
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < steps.length; i++) {
      const v = num(values[i]);
      const x0 = f.x(steps[i]);
      const x1 = i + 1 < steps.length ? f.x(steps[i + 1]) : f.x(style.end === undefined ? N : style.end);
      if (!isFinite(v)) { pen = false; continue; }
      const yy = f.y(v);
      if (pen) ctx.lineTo(x0, yy); else ctx.moveTo(x0, yy);
      ctx.lineTo(x1, yy);
      pen = true;
    }
    ctx.stroke();
    ctx.restore();
  }

  function rangeOf(lists, lo = Infinity, hi = -Infinity) {
    for (const vs of lists) {
      for (const t of vs) {
        const v = num(t);
        if (isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      }
    }
    return [lo, hi];
  }

  function liqMarker(ctx, x, y, selected) {
    ctx.beginPath();
    ctx.moveTo(x, y + 7); ctx.lineTo(x - 7, y - 6); ctx.lineTo(x + 7, y - 6); ctx.closePath();
    ctx.fillStyle = selected ? "#000" : "#d00000";
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }

  function pricePanel(run, sym, yRange) {
    return (ctx, f) => {
      const p = run.prices[sym];
      axes(ctx, f, yRange[0], yRange[1], fmtAxis);
      if (p.best_bid) stepLine(ctx, f, p.step, p.best_bid, { color: "rgba(0, 122, 85, 0.55)", width: 1 });
      if (p.best_ask) stepLine(ctx, f, p.step, p.best_ask, { color: "rgba(194, 65, 12, 0.55)", width: 1 });
      if (p.last && p.last.some((v) => v !== null)) stepLine(ctx, f, p.step, p.last, { color: "#3b3bb8", width: 1.2 });
      for (const q of run.positions || []) {
        if (q.symbol !== sym || !q.liquidation_price) continue;
        const named = isNamed(run, q.account);
        stepLine(ctx, f, q.step, q.liquidation_price, { color: named ? accountColor(run, q.account) : "rgba(208, 0, 0, 0.10)", width: named ? 2 : 1, dash: named ? [7, 4] : [3, 3] });
      }
      stepLine(ctx, f, p.step, p.mark, { color: "#111", width: 2.2 });
      // fills: small dots (buy up-green, sell down-red); liquidation fills ringed
      ctx.save();
      ctx.beginPath(); ctx.rect(f.left, f.top, f.pw, f.ph); ctx.clip();
      for (const fl of run.fills || []) {
        if (fl.symbol !== sym) continue;
        const v = num(fl.price);
        if (!isFinite(v)) continue;
        const x = f.xc(fl.step), y = f.y(v);
        ctx.beginPath();
        ctx.arc(x, y, fl.liquidation ? 4 : 2.5, 0, Math.PI * 2);
        ctx.fillStyle = fl.side === "buy" ? "#007a55" : "#c2410c";
        ctx.fill();
        if (fl.liquidation) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.stroke(); }
      }
      ctx.restore();
      for (const l of run.liquidations || []) {
        if (l.symbol && l.symbol !== sym && run.symbols.length > 1) continue;
        let v = num(l.mark || "");
        if (!isFinite(v)) v = num(valueAt(p, "mark", l.step));
        if (!isFinite(v)) continue;
        const x = f.xc(l.step), y = Math.min(Math.max(f.y(v), f.top + 8), f.top + f.ph - 8);
        liqMarker(ctx, x, y, false);
        f.hits.push({ x, y, run, liq: l });
      }
    };
  }

  function equityPanel(run, yRange, shown) {
    return (ctx, f) => {
      axes(ctx, f, yRange[0], yRange[1], fmtAxis);
      for (const a of run.accounts || []) {
        if (!shown(a)) continue;
        stepLine(ctx, f, a.step, a.equity, { color: accountColor(run, a.account), width: a._named ? 2.2 : 1 });
      }
      markLiquidations(ctx, f, run, (l) => {
        const a = (run.accounts || []).find((x) => x.account === l.account);
        return a && shown(a) ? num(valueAt(a, "equity", l.step)) : NaN;
      });
    };
  }

  function ratioPanel(run, yHi) {
    return (ctx, f) => {
      axes(ctx, f, 0, yHi, (v) => Math.round(v * 100) + " %");
      const accounts = run.accounts || [];
      for (const a of accounts) if (!a._named) stepLine(ctx, f, a.step, a.margin_ratio, { color: FAINT, width: 1 });
      for (const q of run.positions || []) {
        if (!q.scope_margin_ratio) continue;
        stepLine(ctx, f, q.step, q.scope_margin_ratio, { color: isNamed(run, q.account) ? accountColor(run, q.account) : FAINT, width: 1.5, dash: [5, 3] });
      }
      for (const a of accounts) if (a._named) stepLine(ctx, f, a.step, a.margin_ratio, { color: accountColor(run, a.account), width: 2.4 });
      // the 100 % line: at or above it the scope is liquidated
      const y1 = Math.round(f.y(1)) + 0.5;
      ctx.strokeStyle = "#d00000";
      ctx.lineWidth = 2;
      ctx.setLineDash([8, 4]);
      ctx.beginPath(); ctx.moveTo(f.left, y1); ctx.lineTo(f.left + f.pw, y1); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#d00000";
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.fillText("100 %: liquidation", f.left + 6, y1 - 3);
      markLiquidations(ctx, f, run, () => 1);
    };
  }

  function markLiquidations(ctx, f, run, yOf) {
    for (const l of run.liquidations || []) {
      const v = yOf(l);
      if (!isFinite(v)) continue;
      const x = f.xc(l.step), y = Math.min(Math.max(f.y(v), f.top + 8), f.top + f.ph - 8);
      liqMarker(ctx, x, y, false);
      f.hits.push({ x, y, run, liq: l });
    }
  }

  function legend(items) {
    return el("div", { class: "legend" }, ...items.map(([label, colors, dash, dot]) =>
      el("span", { class: "key" }, ...[].concat(colors).map((c) => el("span", { class: "swatch" + (dash ? " dashed" : "") + (dot ? " dot" : ""), style: `--c:${c}` })), label)));
  }

  /* runs of one period share each scale (the same market, side by side); runs of
     different periods (each from its own start) get their own */
  const SHARED = DOC.aligned !== "start";
  function shareKey(run, sym) {
    return SHARED ? sym : `${run.name}\u0000${sym}`;
  }

  function buildPlots(root) {
    // shared y ranges: the same price scale per symbol, equity and margin-ratio scales in every run
    const priceRange = {};
    for (const run of RUNS) {
      for (const sym of run.symbols || []) {
        const p = run.prices[sym];
        if (!p) continue;
        const base = rangeOf([p.mark, p.last || [], p.best_bid || [], p.best_ask || []]);
        const key = shareKey(run, sym);
        const cur = priceRange[key] || [Infinity, -Infinity];
        priceRange[key] = [Math.min(cur[0], base[0]), Math.max(cur[1], base[1])];
      }
    }
    // the named accounts' liquidation prices widen the scale, within reason (at most the
    // price's own span further); the population's are drawn where they fall in it
    const base = Object.fromEntries(Object.entries(priceRange).map(([k, r]) => [k, r.slice()]));
    for (const run of RUNS) {
      for (const q of run.positions || []) {
        const key = shareKey(run, q.symbol);
        const r = base[key];
        if (!r || !q.liquidation_price || !isNamed(run, q.account)) continue;
        const span = Math.max(r[1] - r[0], Math.abs(r[1]) * 0.02);
        const [lo, hi] = rangeOf([q.liquidation_price.filter((v) => { const x = num(v); return x > r[0] - span && x < r[1] + span; })]);
        priceRange[key] = [Math.min(priceRange[key][0], lo), Math.max(priceRange[key][1], hi)];
      }
    }
    const anyNamed = RUNS.some((r) => (r.accounts || []).some((a) => a._named));
    const shownEquity = (a) => a._named || !anyNamed;
    const eqOf = (runs) => rangeOf(runs.flatMap((r) => (r.accounts || []).filter(shownEquity).map((a) => a.equity)));
    const eqAll = eqOf(RUNS);
    let ratioHi = 1.2;
    for (const run of RUNS) {
      const [, hi] = rangeOf((run.accounts || []).map((a) => a.margin_ratio).concat((run.positions || []).map((q) => q.scope_margin_ratio || [])));
      if (isFinite(hi)) ratioHi = Math.max(ratioHi, Math.min(hi, 3));
    }

    const labels = [];
    for (const run of RUNS) for (const [k] of run.figures || []) if (!labels.includes(k)) labels.push(k);
    if (labels.length) {
      const value = (run, k) => { const f = (run.figures || []).find(([x]) => x === k); return f ? String(f[1]) : ""; };
      root.append(el("div", { class: "scroll outcome-box" }, el("table", { id: "figures", class: "outcome" },
        el("caption", { text: "Outcome at the end of each run" }),
        el("thead", null, el("tr", null, el("th", { text: "" }), ...RUNS.map((r) => el("th", { class: "num", text: r.name })))),
        el("tbody", null, ...labels.map((k) => el("tr", null, el("th", { scope: "row", text: k }),
          ...RUNS.map((r) => { const v = value(r, k); return el("td", { class: "num", "data-value": v, title: v, text: /^\d{4}-\d\d-\d\dT/.test(v) ? v : fmtFigure(v) }); })))))));
    }
    const grid = el("div", { class: "runs", style: `--runs:${RUNS.length}; --runs-narrow:${Math.min(RUNS.length, 2)}` });
    for (const run of RUNS) {
      const col = el("section", { class: "run", "data-run": run.name });
      const mode = run.margin_mode ? `margin: ${run.margin_mode}` : "";
      const at = el("span", { class: "at" });
      col.append(el("h2", null, run.name, " ", at, el("span", { class: "sub", text: [run.kind, mode, `venue: ${run.venue}`].filter(Boolean).join(" · ") })));
      if (run.frames) {
        const whyAt = new Map(run.frames.map(([k, why]) => [k, why]));
        updaters.push((k) => {
          const why = whyAt.get(k);
          at.textContent = why ? `· ${why}` : k > run._last ? "· ended" : "· —";
          at.classList.toggle("liq", why === "liquidation");
        });
      }
      for (const sym of run.symbols || []) {
        if (!run.prices[sym]) continue;
        const c = el("canvas", { class: "plot price", "data-run": run.name, "data-symbol": sym, "data-panel": "price",
          "aria-label": `${run.name}: ${sym} mark price, liquidation prices, fills and liquidations` });
        const p = run.prices[sym];
        const has = (vs) => (vs || []).some((v) => v !== null && v !== "");
        const keys = [["mark", "#111"]];
        if (has(p.last)) keys.push(["last", "#3b3bb8"]);
        if (has(p.best_bid)) keys.push(["best bid / ask", ["rgba(0,122,85,.7)", "rgba(194,65,12,.7)"]]);
        const liqColor = (run.accounts || []).filter((a) => a._named).map((a) => accountColor(run, a.account))[0] || "#d00000";
        if ((run.positions || []).some((q) => q.symbol === sym && has(q.liquidation_price))) keys.push(["liquidation price", liqColor, true]);
        if ((run.fills || []).some((x) => x.symbol === sym)) keys.push(["fills: buy / sell", ["#007a55", "#c2410c"], false, true]);
        if ((run.liquidations || []).some((l) => !l.symbol || l.symbol === sym || run.symbols.length === 1)) keys.push(["liquidation ▼ (click)", "#d00000"]);
        col.append(el("h3", { text: `${sym} price` }), c, legend(keys));
        plots.push(new Plot(c, pricePanel(run, sym, priceRange[shareKey(run, sym)]), run));
      }
      const named = (run.accounts || []).filter((a) => a._named);
      const keys = named.slice(0, 8).map((a) => [a.name || `#${a.account}`, accountColor(run, a.account)]);
      const popCount = (run.accounts || []).length - named.length;
      const c2 = el("canvas", { class: "plot equity", "data-run": run.name, "data-panel": "equity", "aria-label": `${run.name}: equity per account` });
      col.append(el("h3", { text: "equity" + (popCount && anyNamed ? " (named accounts)" : "") }), c2, legend(keys));
      plots.push(new Plot(c2, equityPanel(run, SHARED ? eqAll : eqOf([run]), shownEquity), run));
      const c3 = el("canvas", { class: "plot ratio", "data-run": run.name, "data-panel": "margin_ratio", "aria-label": `${run.name}: margin ratio per account and scope` });
      const rkeys = named.filter((a) => a.margin_ratio.some((v) => v !== null)).slice(0, 8).map((a) => [a.name || `#${a.account}`, accountColor(run, a.account)]);
      if (popCount) rkeys.push([`${popCount} population accounts`, FAINT]);
      if ((run.positions || []).some((q) => q.scope_margin_ratio)) rkeys.push(["position's scope", "#555", true]);
      col.append(el("h3", { text: "margin ratio", title: "maintenance margin ÷ margin balance; at 100 % the scope is liquidated" }), c3, legend(rkeys));
      plots.push(new Plot(c3, ratioPanel(run, ratioHi), run));
      grid.append(col);
    }
    root.append(grid);
  }

  // ------------------------------------------------------------------ the state panel
  function cell(field) {
    return el("td", { "data-field": field, "data-value": "", class: KIND[field] === "pct" || KIND[field] ? "num" : "" });
  }
  function setCell(td, field, text) {
    if (td.getAttribute("data-value") === text && td.firstChild) return;
    td.setAttribute("data-value", text);
    td.textContent = fmt(field, text);
    td.title = text;
    if (field === "margin_ratio" || field === "scope_margin_ratio") {
      const x = num(text);
      td.classList.toggle("over", x >= 1);
      td.classList.toggle("near", x >= 0.8 && x < 1);
    }
    if (field === "distance_fraction") td.classList.toggle("near", Math.abs(num(text)) < 0.02);
  }

  function buildState(root) {
    const controls = el("div", { class: "filter" },
      el("label", null, "find account ", el("input", { id: "filter", type: "search", placeholder: "name or number", oninput: applyFilter })),
      el("label", null, "show ", el("select", { id: "show", onchange: applyFilter },
        el("option", { value: "all", text: "all accounts" }),
        el("option", { value: "named", text: "named accounts" }),
        el("option", { value: "liquidated", text: "liquidated so far" }),
        el("option", { value: "risk", text: "margin ratio ≥ 80 % or liquidated" }))));
    const state = el("div", { id: "state" });
    root.append(el("h2", { text: "State at this step" }), controls,
      el("p", { class: "hint", text: "Margin ratio ≥ 100 % (red): the scope is liquidated; ≥ 80 % (amber): close. ✕ liquidated earlier; outlined: liquidated at this step. Hover a figure for its exact value." }),
      state);
    const rows = [];  // {tr, run, account}
    for (const run of RUNS) {
      const box = el("section", { class: "run-state", "data-run": run.name });
      box.append(el("h3", { text: `${run.name}` + (run.margin_mode ? ` (${run.margin_mode})` : "") }));
      const accounts = (run.accounts || []).slice().sort((a, b) => (b._named - a._named) || (a.account - b.account));
      const tbody = el("tbody");
      for (const a of accounts) {
        const tds = FIELDS_ACCOUNT.map(cell);
        const tr = el("tr", { "data-run": run.name, "data-account": a.account, class: a._named ? "named" : "" },
          el("th", { scope: "row", text: `${a.name || ""} #${a.account}` }), ...tds);
        tbody.append(tr);
        rows.push({ tr, run, account: a, kind: "account" });
        updaters.push((k) => {
          FIELDS_ACCOUNT.forEach((f, i) => setCell(tds[i], f, valueAt(a, f, k)));
          const ls = run._liqBy.get(a.account) || [];
          tr.classList.toggle("liq-now", ls.some((l) => l.step === k));
          tr.classList.toggle("liq-done", ls.some((l) => l.step < k));
        });
      }
      box.append(el("div", { class: "scroll" }, el("table", { class: "accounts", "data-run": run.name },
        el("thead", null, el("tr", null, el("th", { text: "account" }), ...FIELDS_ACCOUNT.map((f) => el("th", { text: LABELS[f] })))),
        tbody)));
      const positions = (run.positions || []).slice().sort((a, b) => (isNamed(run, b.account) - isNamed(run, a.account)) || (a.account - b.account));
      if (positions.length) {
        const pbody = el("tbody");
        for (const q of positions) {
          const tds = FIELDS_POSITION.map(cell);
          const a = (run.accounts || []).find((x) => x.account === q.account) || { account: q.account, name: "", _named: false };
          const tr = el("tr", { "data-run": run.name, "data-account": q.account, "data-symbol": q.symbol, "data-position-side": q.position_side },
            el("th", { scope: "row", text: `${a.name || ""} #${q.account}` }),
            el("td", { text: `${q.symbol} ${q.position_side !== "BOTH" ? q.position_side : ""}`.trim() }),
            el("td", { text: q.margin_mode || "" }), ...tds);
          pbody.append(tr);
          rows.push({ tr, run, account: a, kind: "position" });
          updaters.push((k) => {
            FIELDS_POSITION.forEach((f, i) => setCell(tds[i], f, valueAt(q, f, k)));
            const qty = valueAt(q, "qty", k);
            tr.classList.toggle("flat", qty === "" || num(qty) === 0);
          });
        }
        box.append(el("h4", { text: "positions" }), el("div", { class: "scroll" }, el("table", { class: "positions", "data-run": run.name },
          el("thead", null, el("tr", null, el("th", { text: "account" }), el("th", { text: "symbol" }), el("th", { text: "mode" }),
            ...FIELDS_POSITION.map((f) => el("th", { text: LABELS[f] })))),
          pbody)));
      } else {
        box.append(el("p", { class: "empty", text: "no per-position rows in this run (positions.csv absent)" }));
      }
      // the book around the price
      const depthBox = el("div", { class: "depths" });
      for (const sym of run.symbols || []) {
        const d = (run.depth || {})[sym];
        if (d && d.step && d.step.length) {
          const tb = el("tbody");
          const table = el("table", { class: "depth", "data-run": run.name, "data-symbol": sym },
            el("caption", { text: `${sym} book` }),
            el("thead", null, el("tr", null, el("th", { text: "side" }), el("th", { text: "price" }), el("th", { text: "qty" }))), tb);
          depthBox.append(table);
          updaters.push((k) => {
            const i = entryAt(d.step, k);
            tb.replaceChildren();
            if (i < 0) return;
            const asks = (d.asks[i] || []).slice().reverse();
            for (const [side, levels] of [["ask", asks], ["bid", d.bids[i] || []]]) {
              for (const [p, qty] of levels) {
                tb.append(el("tr", { "data-side": side, class: side },
                  el("td", { text: side }),
                  el("td", { "data-field": "price", "data-value": p, class: "num", text: fmtPrice(p) }),
                  el("td", { "data-field": "qty", "data-value": qty, class: "num", text: fmtExact(qty) })));
              }
            }
          });
        } else {
          const p = run.prices[sym];
          const line = el("p", { class: "empty" });
          depthBox.append(line);
          updaters.push((k) => {
            const bid = p ? valueAt(p, "best_bid", k) : "", ask = p ? valueAt(p, "best_ask", k) : "";
            line.textContent = `${sym}: no book depth recorded (depth.csv absent)` +
              (bid || ask ? `; best bid ${fmtPrice(bid)}, best ask ${fmtPrice(ask)}` : "");
          });
        }
      }
      box.append(el("h4", { text: "book" }), depthBox);
      state.append(box);
    }

    function applyFilter() {
      const q = document.getElementById("filter").value.trim().toLowerCase();
      const mode = document.getElementById("show").value;
      for (const r of rows) {
        const a = r.account;
        let ok = true;
        if (q) ok = `${a.name || ""} #${a.account} ${a.account}`.toLowerCase().includes(q);
        const liqs = (r.run._liqBy.get(a.account) || []).filter((l) => l.step <= current);
        if (ok && mode === "named") ok = a._named;
        if (ok && mode === "liquidated") ok = a._named || liqs.length > 0;
        if (ok && mode === "risk") ok = a._named || liqs.length > 0 || num(valueAt(a, "margin_ratio", current)) >= 0.8;
        r.tr.hidden = !ok;
      }
    }
    updaters.push(() => { if (document.getElementById("show").value !== "all") applyFilter(); });
  }

  // ------------------------------------------------------------------ liquidations, generations, explain
  let selected = null;
  function showLiquidation(run, l) {
    setStep(l.step);
    selected = `${run.name}:${l.index}`;
    for (const li of document.querySelectorAll("#liquidations [data-liq]")) {
      li.classList.toggle("selected", li.dataset.liq === selected);
      if (li.dataset.liq === selected) scrollWithin(li);
    }
    const box = document.getElementById("explain");
    const numbers = [["run", run.name], ["liquidation", `${l.index} of ${run.liquidations.length}`], ["account", `${l.name} #${l.account}`],
      ["scope", l.scope], ["symbol", l.symbol || ""], ["generation", String(l.generation)], ["at", runClock(run, l.step)]];
    for (const f of ["mark", "margin_balance", "maint_margin"]) if (l[f]) numbers.push([f.replace("_", " "), l[f]]);
    box.replaceChildren(
      el("h3", { text: `${run.name}: liquidation ${l.index} — ${l.name} #${l.account}` }),
      el("dl", { class: "numbers" }, ...numbers.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
      el("pre", { class: "explanation", text: l.explanation || "(no explanation recorded)" }));
    box.dataset.shownLiq = selected;  // (not data-liq: that names the list's items)
    delete box.dataset.shownGeneration;
  }

  function showSeveral(run, liqs) {
    setStep(liqs[0].step);
    const box = document.getElementById("explain");
    box.replaceChildren(
      el("h3", { text: `${run.name}: ${liqs.length} liquidations at this step` }),
      el("p", { text: "They were triggered together; click one to read its explanation." }),
      el("ul", { class: "liq-links" }, ...liqs.map((l) => el("li", null,
        el("button", { type: "button", class: "link", onclick: () => showLiquidation(run, l), text: `#${l.index} ${l.name} (${l.scope})` })))));
    delete box.dataset.shownLiq;
    delete box.dataset.shownGeneration;
  }

  function scrollWithin(item) {  // bring a list item into its scroll box's view, not the page's
    const box = item.closest(".scroll");
    if (!box) return;
    const top = item.offsetTop, bottom = top + item.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) box.scrollTop = Math.max(0, top - box.clientHeight / 3);
  }

  function showGeneration(run, g) {
    setStep(g.step);
    const box = document.getElementById("explain");
    const liqs = (run.liquidations || []).filter((l) => l.generation === g.generation && (!l.symbol || l.symbol === g.symbol));
    box.replaceChildren(
      el("h3", { text: `${run.name}: cascade generation ${g.generation} (${g.symbol})` }),
      el("p", { text: `Round ${g.generation} was triggered at mark ${fmtPrice(g.mark || "")}. Its ${g.liquidations} liquidation order(s) ` +
        `moved the best bid from ${fmtPrice(g.best_bid_before || "")} to ${fmtPrice(g.best_bid_after || "")} (${fmtPct(g.impact_fraction || "")}); ` +
        "the next round's mark is computed on that book." }),
      el("ul", { class: "liq-links" }, ...liqs.map((l) => el("li", null,
        el("button", { type: "button", class: "link", onclick: () => showLiquidation(run, l), text: `#${l.index} ${l.name} (${l.scope})` })))));
    box.dataset.shownGeneration = `${run.name}:${g.generation}`;  // (not data-generation: that names the table's rows)
    delete box.dataset.shownLiq;
  }

  function buildEvents(explainRoot, root) {
    explainRoot.append(el("h2", { text: "Explanation" }),
      el("div", { id: "explain", "aria-live": "polite" },
        el("p", { class: "hint", text: "Click a liquidation (▼ on a plot or in the list) or a cascade generation to read how it happened." })));
    const list = el("div", { id: "liquidations" });
    root.append(el("h2", { text: "Liquidations" }), list);
    let any = false;
    for (const run of RUNS) {
      const ls = run.liquidations || [];
      const ul = el("ol", { class: "liqs" });
      for (const l of ls) {
        any = true;
        const li = el("li", { "data-liq": `${run.name}:${l.index}`, tabindex: 0, role: "button",
          onclick: () => showLiquidation(run, l), onkeydown: (e) => { if (e.key === "Enter") showLiquidation(run, l); } },
          el("span", { class: "idx", text: `#${l.index}` }), ` ${l.name} #${l.account} · ${l.scope}${l.symbol ? " " + l.symbol : ""}` +
          (l.generation ? ` · gen ${l.generation}` : "") + ` · step ${l.step + 1}`);
        ul.append(li);
        updaters.push((k) => { li.classList.toggle("now", l.step === k); li.classList.toggle("past", l.step < k); });
      }
      list.append(el("h3", { text: `${run.name}: ${ls.length} liquidation${ls.length === 1 ? "" : "s"}` }), ls.length ? el("div", { class: "scroll short" }, ul) : el("p", { class: "empty", text: "none" }));
    }
    if (!any) list.prepend(el("p", { class: "empty", text: "No liquidation in these runs." }));

    const gens = el("div", { id: "generations" });
    explainRoot.append(el("h2", { text: "Cascade generations" }), gens);  // under the explanation: the two columns balance
    const withGens = RUNS.filter((r) => (r.generations || []).length);
    if (!withGens.length) gens.append(el("p", { class: "empty", text: "No book-driven cascade in these runs." }));
    for (const run of withGens) {
      const tb = el("tbody");
      const many = new Set(run.generations.map((g) => g.symbol)).size > 1;
      for (const g of run.generations) {
        const tr = el("tr", { "data-generation": `${run.name}:${g.generation}`, "data-symbol": g.symbol, tabindex: 0, role: "button",
          onclick: () => showGeneration(run, g), onkeydown: (e) => { if (e.key === "Enter") showGeneration(run, g); } },
          el("td", { class: "num", text: String(g.generation) }), many ? el("td", { text: g.symbol }) : null,
          el("td", { class: "num", text: String(g.step + 1) }),
          el("td", { class: "num", text: String(g.liquidations) }),
          el("td", { class: "num", "data-value": g.mark, text: fmtPrice(g.mark || "") }),
          el("td", { class: "num", "data-value": g.impact_fraction, text: fmtPct(g.impact_fraction || "") }),
          el("td", { class: "num", text: `${fmtPrice(g.best_bid_before || "")} → ${fmtPrice(g.best_bid_after || "")}` }));
        tb.append(tr);
        updaters.push((k) => tr.classList.toggle("now", g.step === k));
      }
      gens.append(el("h3", { text: run.name }), el("div", { class: "scroll short" }, el("table", { class: "gens", "data-run": run.name },
        el("thead", null, el("tr", null, ...["gen", many ? "symbol" : null, "step", "liq.", "trigger mark", "impact", "best bid → after"].filter(Boolean).map((t) => el("th", { text: t })))),
        tb)));
    }
  }

  function buildDistances(root) {
    const box = el("div", { id: "distances" });
    root.append(el("h2", { text: "Liquidation distances" }), box);
    const rows = DOC.distances || [];
    if (!rows.length) {
      box.append(el("p", { class: "empty", text: "No distance table (exsim compare writes distances.csv beside its runs)." }));
      return;
    }
    const cols = ["run", "account", "name", "symbol", "position_side", "margin_mode", "qty", "mark", "liquidation_price",
      "distance_fraction", "what", "haircut_asset", "haircut_now", "haircut_at_liquidation"].filter((c) => rows.some((r) => r[c]));
    const pct = new Set(["distance_fraction", "haircut_now", "haircut_at_liquidation"]);
    const heads = { position_side: "side", margin_mode: "mode", liquidation_price: "liq. price", distance_fraction: "distance",
      haircut_asset: "haircut asset", haircut_now: "haircut now", haircut_at_liquidation: "haircut at liq." };
    box.append(el("p", { class: "hint", text: "distance: how far the mark may move, signed, before the position's scope is liquidated " +
      "(every other price fixed); haircut rows: a collateral's haircut now and where it would liquidate the account." }));
    box.append(el("div", { class: "scroll" }, el("table", { class: "distances" },
      el("thead", null, el("tr", null, ...cols.map((c) => el("th", { "data-column": c, text: heads[c] || c.replace(/_/g, " ") })))),
      el("tbody", null, ...rows.map((r) => el("tr", { "data-distance-run": r.run, "data-distance-account": r.account },
        ...cols.map((c) => {
          const v = r[c] === undefined || r[c] === null ? "" : String(r[c]);
          const text = pct.has(c) ? fmtPct(v) : (c === "mark" || c === "liquidation_price") ? fmtPrice(v) : c === "qty" ? fmtExact(v) : v;
          return el("td", { "data-field": c, "data-value": v, class: pct.has(c) || c === "mark" || c === "liquidation_price" || c === "qty" ? "num" : "", text: v === "" ? "—" : text });
        })))))));
  }

  function buildNotes(root) {
    const notes = DOC.notes || [];
    root.append(el("h2", { text: "Notes" }), el("ul", { id: "notes" },
      ...(notes.length ? notes.map((n) => el("li", { text: n })) : [el("li", { class: "empty", text: "Nothing was left out." })])));
  }

  // ------------------------------------------------------------------ stepping
  function setStep(k) {
    if (!N) return;
    k = Math.min(N - 1, Math.max(0, Math.round(Number(k) || 0)));
    current = k;
    const slider = document.getElementById("slider");
    if (Number(slider.value) !== k) slider.value = String(k);
    const [, gen, label] = STEPS[k];
    let text = `${stepClock(k)} · step ${k + 1} of ${N}` + (gen > 0 ? ` · generation ${gen}` : "") + (label ? ` · ${label}` : "");
    const now = document.getElementById("now");
    now.textContent = text;
    now.dataset.step = String(k);
    now.dataset.stepGeneration = String(gen);
    now.dataset.label = label || "";
    if (DOC.aligned === "start") {
      const clocks = RUNS.map((r) => `${r.name}: ${runClock(r, k)}` + (k > r._last ? " (its run has ended)" : ""));
      now.title = clocks.join("\n");
      document.getElementById("clocks").textContent = clocks.join(" · ");
    }
    for (const p of plots) p.cursor(k);
    for (const u of updaters) u(k);
  }

  function play() {
    const btn = document.getElementById("play");
    if (timer) {
      clearInterval(timer); timer = null;
      btn.textContent = "▶ play"; btn.setAttribute("aria-pressed", "false");
      return;
    }
    if (current >= N - 1) setStep(0);
    btn.textContent = "❚❚ pause"; btn.setAttribute("aria-pressed", "true");
    const every = Math.max(25, Math.min(600, Math.round(30000 / Math.max(N, 1))));
    timer = setInterval(() => {
      if (current >= N - 1) { play(); return; }
      setStep(current + 1);
    }, every);
  }

  function jumpLiquidation(dir) {  // the next / previous step with a liquidation
    const ks = [...new Set(RUNS.flatMap((r) => (r.liquidations || []).map((l) => l.step)))].sort((a, b) => a - b);
    const k = dir > 0 ? ks.find((s) => s > current) : ks.reverse().find((s) => s < current);
    if (k !== undefined) setStep(k);
  }

  function buildControls() {
    const slider = el("input", { id: "slider", type: "range", min: 0, max: Math.max(N - 1, 0), step: 1, value: 0,
      "aria-label": "step", oninput: (e) => setStep(e.target.value) });
    return el("div", { id: "controls" },
      el("button", { id: "prev", type: "button", title: "previous step (←)", onclick: () => setStep(current - 1), text: "◀ prev" }),
      el("button", { id: "play", type: "button", title: "play / pause (space)", "aria-pressed": "false", onclick: play, text: "▶ play" }),
      el("button", { id: "next", type: "button", title: "next step (→)", onclick: () => setStep(current + 1), text: "next ▶" }),
      slider,
      el("div", { class: "nowbox" }, el("output", { id: "now", for: "slider" }), el("div", { id: "clocks" })),
      el("p", { class: "keys", text: "← → step · shift+← → previous/next liquidation · Home/End · space play" }));
  }

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t && (t.tagName === "INPUT" && t.type !== "range" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    let done = true;
    if (e.key === "ArrowRight") e.shiftKey ? jumpLiquidation(1) : setStep(current + 1);
    else if (e.key === "ArrowLeft") e.shiftKey ? jumpLiquidation(-1) : setStep(current - 1);
    else if (e.key === "Home") setStep(0);
    else if (e.key === "End") setStep(N - 1);
    else if (e.key === " " && !(t && t.tagName === "BUTTON")) play();
    else done = false;
    if (done) e.preventDefault();
  });

  // ------------------------------------------------------------------ the page
  function build() {
    const body = document.body;
    const head = el("header", null, el("h1", { text: DOC.title || "exsim" }),
      el("p", { class: "sub", text: (RUNS.length === 1 ? "1 run" : `${RUNS.length} runs side by side`) + ` · ${N} steps` +
        (DOC.aligned === "start" ? " · each run from its own start" : "") + " · every figure is the run's own exact number (hover a cell)" }));
    body.append(head, buildControls());
    const plotsBox = el("section", { id: "plots" });
    body.append(plotsBox);
    buildPlots(plotsBox);
    const lower = el("div", { class: "lower" });
    const left = el("section", { class: "explain-col" });
    const right = el("section", { class: "events-col" });
    lower.append(left, right);
    const stateBox = el("section", { class: "state-box" });
    body.append(lower, stateBox);
    buildEvents(left, right);
    buildState(stateBox);
    const bottom = el("section", { class: "bottom" });
    body.append(bottom);
    buildDistances(bottom);
    buildNotes(bottom);
    body.append(el("footer", { text: "Written by exsim; works offline (no network). Steps: every order, fill, liquidation and cascade round of the runs, " +
      "and periodic samples; a cascade's rounds happen at one instant and are separate steps (shaded on the plots)." }));
    let pending = 0;
    const relayout = () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => { for (const p of plots) p.layout(); });
    };
    new ResizeObserver(relayout).observe(plotsBox);
    window.addEventListener("resize", relayout);  // (a zoom or another screen changes devicePixelRatio, not the box)
    for (const p of plots) p.layout();
    setStep(0);
    window.exsimPage = { step: () => current, setStep, steps: N };
    document.documentElement.dataset.builtMs = String(Math.round(performance.now()));
  }

  build();
})();
