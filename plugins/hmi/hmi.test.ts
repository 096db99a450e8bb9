import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, StorageToken } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { parseXml, elementsOf, type XElement } from '../../standards/openadr2b/xml.js';
import { storeEdrp } from '../../test/data.js';
import { chart, ticks, timeTicks } from './svg.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

/** Every element of an SVG document (parsed strictly: a malformed chart fails here). */
function svgElements(svg: string): XElement[] {
  const root = parseXml(svg);
  assert.equal(root.local, 'svg');
  const out: XElement[] = [];
  const walk = (e: XElement) => {
    out.push(e);
    elementsOf(e).forEach(walk);
  };
  walk(root);
  return out;
}
const attr = (e: XElement, name: string) => e.attrs.find((a) => a.local === name)?.value;
const svgOf = (html: string) => /<svg[\s\S]*<\/svg>/.exec(html)?.[0] ?? assert.fail('no <svg> in the page');

describe('hmi: SVG charts', () => {
  it('picks round ticks and whole hours', () => {
    assert.deepEqual(ticks(0, 10), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(ticks(0.3, 1.1, 4), [0.4, 0.6, 0.8, 1]);
    const t = timeTicks(Date.UTC(2009, 4, 10), Date.UTC(2009, 4, 11));
    assert.deepEqual(
      t.map((x) => x.label),
      ['05-10', '03:00', '06:00', '09:00', '12:00', '15:00', '18:00', '21:00', '05-11'],
    );
  });

  it('draws lines, steps, bands and markers where the data says, and escapes every text', () => {
    const svg = chart({
      title: 'A <b>&</b> "test"',
      x: { label: 'x' },
      y: { label: 'y' },
      series: [
        { name: 'band', kind: 'band', points: [[0, 1], [1, 2], [2, 1]], upper: [2, 3, 2], colour: '#123456' },
        { name: 'line <script>', kind: 'line', points: [[0, 1], [1, null], [2, 3]], colour: 'red;}' },
        { name: 'step', kind: 'step', points: [[0, 1], [1, 2], [2, 2]], colour: '#00ff00' },
      ],
      markers: [{ x: 1, y: 2, label: 'here', colour: '#000' }],
      width: 100 + 70 + 20, // 100 px of plot width: x = 0, 1, 2 → 70, 120, 170
      height: 100 + 40 + 70,
    });
    const els = svgElements(svg);
    assert.ok(!svg.includes('<script>') && svg.includes('line &lt;script&gt;') && svg.includes('A &lt;b&gt;&amp;&lt;/b&gt; &quot;test&quot;'));
    const lines = els.filter((e) => attr(e, 'class') === 'series-line');
    assert.equal(lines.length, 2, 'a missing value splits the line');
    assert.equal(attr(lines[0]!, 'stroke'), '#555', 'a colour that is not #hex is replaced');
    const step = els.find((e) => attr(e, 'class') === 'series-step')!;
    const pts = attr(step, 'points')!.split(' ').map((p) => p.split(',').map(Number));
    assert.equal(pts.length, 5, 'each step is a horizontal then a vertical segment');
    assert.deepEqual(pts.map((p) => p[0]), [70, 120, 120, 170, 170]);
    assert.equal(pts[1]![1], pts[0]![1], 'horizontal first');
    const band = els.find((e) => attr(e, 'class') === 'series-band')!;
    assert.equal(attr(band, 'points')!.split(' ').length, 6, 'lower edge out, upper edge back');
    assert.equal(els.filter((e) => attr(e, 'class') === 'marker').length, 1);
  });
});

describe('hmi: pages from the server’s own APIs', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-hmi-'));
  let server: Awaited<ReturnType<typeof startServer>>;
  const get = async (p: string) => {
    const res = await fetch(`${server.url}${p}`, { headers: OPERATOR });
    return { status: res.status, type: res.headers.get('content-type') ?? '', csp: res.headers.get('content-security-policy') ?? '', text: await res.text() };
  };
  before(async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins['p2p-market'] = { enabled: false, config: {} };
    config.plugins.ledger = { enabled: false, config: {} };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    await storeEdrp(server.host.resolve(StorageToken).readings, ['hh1', 'hh2', 'hh3']);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plots a day-ahead forecast of a group with its p10-p90 band against what was metered', async () => {
    const page = await get('/hmi/forecast?meter=hh1,hh2&at=2009-05-10T12:00:00Z&model=seasonal-naive');
    assert.equal(page.status, 200, page.text);
    assert.match(page.type, /^text\/html/);
    assert.match(page.csp, /default-src 'none'/);
    assert.ok(!/<script/i.test(page.text));
    const els = svgElements(svgOf(page.text));
    const line = els.find((e) => attr(e, 'data-name')?.startsWith('forecast (seasonal-naive)'))!;
    assert.equal(attr(line, 'points')!.split(' ').length, 48, 'one point per half-hour of the next day');
    assert.ok(els.some((e) => attr(e, 'class') === 'series-band'));
    const metered = els.find((e) => attr(e, 'data-name') === 'metered');
    assert.ok(metered, 'the day is in the past: what was metered is drawn too');
    assert.equal(attr(metered!, 'points')!.split(' ').length, 48);
    assert.match(page.text, /2 meters \(sum\)/);
    // Seasonal naive is last week's same slot: its line is the metered line of a week earlier.
    const weekBefore = await get('/hmi/forecast?meter=hh1,hh2&at=2009-05-03T12:00:00Z&model=seasonal-naive');
    const earlier = svgElements(svgOf(weekBefore.text)).find((e) => attr(e, 'data-name') === 'metered')!;
    const ys = (e: XElement) => attr(e, 'points')!.split(' ').map((p) => Number(p.split(',')[1]));
    const f = ys(line);
    const m = ys(earlier);
    // Same y scale is not guaranteed across pages: compare shapes (ranks of the 48 values).
    const rank = (v: number[]) => v.map((x) => v.filter((y) => y < x).length);
    assert.deepEqual(rank(f), rank(m));
  });

  it('plots a baseline over the day’s load, and shows an API refusal with its status and code', async () => {
    const page = await get('/hmi/baseline?meter=hh1,hh2,hh3&date=2009-05-12&window=16:00-19:00&method=10-in-10-learned');
    assert.equal(page.status, 200, page.text);
    const els = svgElements(svgOf(page.text));
    const base = els.find((e) => attr(e, 'data-name')?.startsWith('baseline'))!;
    assert.equal(attr(base, 'points')!.split(' ').length, 2 * 6 + 1, 'six half-hours of window as steps');
    assert.equal(attr(els.find((e) => attr(e, 'data-name') === 'metered')!, 'points')!.split(' ').length, 2 * 48 + 1);
    assert.match(page.text, /ridge regression/);
    const span = els.find((e) => attr(e, 'class') === 'span')!;
    const basePts = attr(base, 'points')!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.deepEqual([Number(attr(span, 'x')), Math.round((Number(attr(span, 'x')) + Number(attr(span, 'width'))) * 10) / 10], [basePts[0], basePts.at(-1)], 'the window is shaded where the baseline is');
    const bad = await get('/hmi/baseline?meter=hh1&date=12/05/2009&window=16:00-19:00');
    assert.equal(bad.status, 400);
    assert.match(bad.type, /^text\/html/);
    assert.match(bad.text, /GF_VALIDATION_FAILED<\/strong>: date must be YYYY-MM-DD/);
    const none = await get('/hmi/forecast?meter=nobody&at=2009-05-10T00:00:00Z');
    assert.ok(none.status >= 400 && none.status < 500, String(none.status));
    assert.match(none.text, /class="problem"/);
  });

  it('plots stored readings, a line per meter, and names a bad parameter', async () => {
    const page = await get('/hmi/readings?meter=hh1,hh2&from=2009-05-10T00:00:00Z&to=2009-05-11T00:00:00Z&resolution=60m');
    assert.equal(page.status, 200, page.text);
    const els = svgElements(svgOf(page.text));
    for (const m of ['hh1', 'hh2']) assert.equal(attr(els.find((e) => attr(e, 'data-name') === m)!, 'points')!.split(' ').length, 24, m);
    const bad = await get('/hmi/readings?meter=hh1&from=yesterday&to=2009-05-11T00:00:00Z');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /GF_VALIDATION_FAILED/);
  });

  it('has an overview with the forms, and says when the market is not running', async () => {
    const page = await get('/hmi/');
    assert.equal(page.status, 200);
    assert.match(page.text, /action="\/hmi\/forecast"/);
    assert.match(page.text, /The market is not running/);
    assert.match(page.text, /3 meters stored: hh1, hh2, hh3\./);
    assert.equal((page.text.match(/<option value="hh\d"><\/option>/g) ?? []).length, 3, 'the meter fields offer the stored meters');
  });
});
