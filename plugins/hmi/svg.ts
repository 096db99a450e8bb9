/**
 * Server-side SVG charts for the HMI: no script, no external assets, every text escaped. One chart type covers
 * what the views need: lines, step curves, shaded bands between two series, and labelled points.
 */

export interface Series {
  name: string;
  kind: 'line' | 'step' | 'band';
  /** [x, y] pairs (x in ms for time axes); NaN or null y breaks the line. */
  points: readonly (readonly [number, number | null])[];
  /** For bands: the upper edge, on the same x as `points` (the lower edge). */
  upper?: readonly (number | null)[];
  colour: string;
  dashed?: boolean;
}

export interface Marker {
  x: number;
  y: number;
  label: string;
  colour: string;
}

export interface Span {
  from: number;
  to: number;
  label: string;
}

export interface ChartSpec {
  title: string;
  /** Shaded x ranges behind the series (an event window). */
  spans?: readonly Span[];
  x: { label: string; time?: boolean };
  y: { label: string };
  series: readonly Series[];
  markers?: readonly Marker[];
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const COLOUR = /^#[0-9a-fA-F]{3,8}$/;
const num = (v: number) => (Math.round(v * 10) / 10).toString();

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k. */
export function ticks(lo: number, hi: number, about = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / about;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

const HOUR = 3600_000;
/** Time ticks on whole hours (every 1, 2, 3, 6, 12 or 24 h, or whole days), labelled in UTC. */
export function timeTicks(lo: number, hi: number, about = 8): { at: number; label: string }[] {
  const span = hi - lo;
  const step = [1, 2, 3, 6, 12, 24, 48, 168].map((h) => h * HOUR).find((s) => span / s <= about) ?? 168 * HOUR;
  const out: { at: number; label: string }[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    const iso = new Date(t).toISOString();
    out.push({ at: t, label: step >= 24 * HOUR || iso.slice(11, 16) === '00:00' ? iso.slice(5, 10) : iso.slice(11, 16) });
  }
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${num(v / 1e6)}M`;
  if (a >= 1e4) return `${num(v / 1e3)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 1 ? 2 : 1);
}

/** The chart as an `<svg>` element (inline in an HTML page, or served as image/svg+xml). */
export function chart(spec: ChartSpec): string {
  const W = spec.width ?? 900;
  const H = spec.height ?? 420;
  const m = { l: 70, r: 20, t: 40, b: 70 };
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    s.points.forEach(([x, y], i) => {
      xs.push(x);
      if (y !== null && Number.isFinite(y)) ys.push(y);
      const u = s.upper?.[i];
      if (u !== null && u !== undefined && Number.isFinite(u)) ys.push(u);
    });
  }
  for (const k of spec.markers ?? []) {
    xs.push(k.x);
    ys.push(k.y);
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  let y0 = Math.min(0, ...ys);
  let y1 = Math.max(...ys);
  if (!Number.isFinite(x0) || x0 === x1) [x0, x1] = [Number.isFinite(x0) ? x0 - 1 : 0, Number.isFinite(x0) ? x0 + 1 : 1];
  if (!Number.isFinite(y1) || y0 === y1) [y0, y1] = [Number.isFinite(y0) ? y0 : 0, (Number.isFinite(y1) ? y1 : 0) + 1];
  y1 += (y1 - y0) * 0.05;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(spec.title)}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${esc(spec.title)}</title>`);
  out.push(`<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  // Grid and axes.
  for (const v of ticks(y0, y1)) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${num(py(v))}" y2="${num(py(v))}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${num(py(v) + 4)}" text-anchor="end">${esc(fmt(v))}</text>`);
  }
  const xt = spec.x.time ? timeTicks(x0, x1) : ticks(x0, x1).map((v) => ({ at: v, label: fmt(v) }));
  for (const t of xt) {
    out.push(`<line x1="${num(px(t.at))}" x2="${num(px(t.at))}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${num(px(t.at))}" y="${H - m.b + 16}" text-anchor="middle">${esc(t.label)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 36}" text-anchor="middle">${esc(spec.x.label)}</text>`);
  out.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.y.label)}</text>`);
  for (const sp of spec.spans ?? []) {
    const a = Math.max(m.l, px(sp.from));
    const b = Math.min(W - m.r, px(sp.to));
    if (b <= a) continue;
    out.push(`<rect class="span" x="${num(a)}" y="${m.t}" width="${num(b - a)}" height="${H - m.t - m.b}" fill="#f2e6b3" fill-opacity="0.6"/>`);
    out.push(`<text x="${num((a + b) / 2)}" y="${m.t + 14}" text-anchor="middle">${esc(sp.label)}</text>`);
  }
  // Series: bands first, then lines and steps.
  const ordered = [...spec.series].sort((a, b) => (a.kind === 'band' ? 0 : 1) - (b.kind === 'band' ? 0 : 1));
  for (const s of ordered) {
    const colour = COLOUR.test(s.colour) ? s.colour : '#555';
    const cls = `series-${s.kind}`;
    if (s.kind === 'band') {
      const lo: string[] = [];
      const hi: string[] = [];
      s.points.forEach(([x, y], i) => {
        const u = s.upper?.[i];
        if (y === null || !Number.isFinite(y) || u === null || u === undefined || !Number.isFinite(u)) return;
        lo.push(`${num(px(x))},${num(py(y))}`);
        hi.unshift(`${num(px(x))},${num(py(u))}`);
      });
      if (lo.length > 1) out.push(`<polygon class="${cls}" data-name="${esc(s.name)}" points="${[...lo, ...hi].join(' ')}" fill="${colour}" fill-opacity="0.2" stroke="none"/>`);
      continue;
    }
    // Runs of defined points become one polyline each.
    let run: string[] = [];
    const runs: string[][] = [];
    let prevY: number | undefined;
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) {
        if (run.length) runs.push(run);
        run = [];
        prevY = undefined;
        continue;
      }
      if (s.kind === 'step' && prevY !== undefined) run.push(`${num(px(x))},${num(py(prevY))}`);
      run.push(`${num(px(x))},${num(py(y))}`);
      prevY = y;
    }
    if (run.length) runs.push(run);
    for (const r of runs) {
      out.push(`<polyline class="${cls}" data-name="${esc(s.name)}" points="${r.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
  }
  for (const k of spec.markers ?? []) {
    const colour = COLOUR.test(k.colour) ? k.colour : '#000';
    out.push(`<circle class="marker" cx="${num(px(k.x))}" cy="${num(py(k.y))}" r="5" fill="${colour}"/>`);
    out.push(`<text x="${num(px(k.x) + 8)}" y="${num(py(k.y) - 8)}">${esc(k.label)}</text>`);
  }
  // Legend.
  let lx = m.l;
  spec.series.forEach((s) => {
    const x = lx;
    lx += 40 + 7 * s.name.length;
    const y = H - 14;
    const colour = COLOUR.test(s.colour) ? s.colour : '#555';
    out.push(
      s.kind === 'band'
        ? `<rect x="${x}" y="${y - 9}" width="18" height="10" fill="${colour}" fill-opacity="0.2"/>`
        : `<line x1="${x}" x2="${x + 18}" y1="${y - 4}" y2="${y - 4}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${x + 24}" y="${y}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A whole HTML page around some content; no script, inline styles only (the CSP allows nothing else). */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · gridflex</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;margin:1.5em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}nav a{margin-right:1em}.problem{color:#a00}svg{max-width:100%;height:auto}</style>
</head><body><nav><a href="/hmi/">gridflex HMI</a></nav>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

export { esc };
