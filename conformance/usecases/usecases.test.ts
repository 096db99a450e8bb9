import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { main } from '../../core/cli/main.js';
import { startTestHost, type TestHost } from '../../core/testing/host.js';
import { iec62559XsdFailures } from '../../standards/iec62559/testing/xsd.js';
import { parseRepository } from '../../standards/iec62559/xml.js';
import { ROOT } from '../../test/process.js';
import { exportFiles, FORMATS } from './export.js';
import { allSteps, checkHighLevel, loadUseCases, toRepository, UseCaseDataError } from './model.js';

const DOCS = path.join(ROOT, 'docs', 'usecases');

function capture(): { io: { out(l: string): void; err(l: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

describe('conformance/usecases: the eDREAM use cases as IEC 62559 models', function () {
  this.timeout(120_000);
  const hls = loadUseCases();

  it('holds HL-UC01 LL-UC01…08, HL-UC02 LL-UC01…04 and HL-UC03 LL-UC01…03, each with a main flow', () => {
    assert.deepEqual(
      hls.map((h) => [h.id, h.useCases.map((l) => l.id)]),
      [
        ['HL-UC01', ['LL-UC01', 'LL-UC02', 'LL-UC03', 'LL-UC04', 'LL-UC05', 'LL-UC06', 'LL-UC07', 'LL-UC08']],
        ['HL-UC02', ['LL-UC01', 'LL-UC02', 'LL-UC03', 'LL-UC04']],
        ['HL-UC03', ['LL-UC01', 'LL-UC02', 'LL-UC03']],
      ],
    );
    for (const l of hls.flatMap((h) => h.useCases)) {
      assert.equal(l.scenarios[0]!.kind, 'main', l.fullId);
      assert.ok(l.preconditions.length > 0 && l.postconditions.length > 0, l.fullId);
    }
  });

  it('the committed docs/usecases are exactly a fresh export', () => {
    const files = exportFiles(hls, FORMATS);
    assert.deepEqual(readdirSync(DOCS).sort(), [...files.keys()].sort(), 'the same file names (run gridflex usecases export --out docs/usecases)');
    for (const [name, text] of files) assert.equal(readFileSync(path.join(DOCS, name), 'utf8'), text, `docs/usecases/${name} is stale: run gridflex usecases export --out docs/usecases`);
  });

  it('the IEC 62559-3 export validates against the schema with xmllint and reads back to the same model', () => {
    const files = exportFiles(hls, ['iec62559-3']);
    assert.equal(files.size, 3);
    assert.deepEqual(iec62559XsdFailures([...files.values()]), []);
    for (const hl of hls) {
      const back = parseRepository(files.get(`${hl.id}.xml`)!);
      assert.deepEqual(back, toRepository(hl));
      // The HL use case and its LL use cases, the steps with producer, receiver and status.
      assert.deepEqual(back.useCases.map((u) => u.identifier), [hl.id, ...hl.useCases.map((l) => l.fullId)]);
      const step = back.useCases[1]!.scenarios[0]!.steps[0]!;
      const first = hl.useCases[0]!.scenarios[0]!.steps[0]!;
      assert.equal(back.actors.find((a) => a.id === step.producerIds[0])!.name, hl.actors[first.producer]!.name);
      assert.equal(back.useCases[1]!.customInformation.find((c) => c.reference === step.id && c.key === 'gridflex.status')!.value, first.status);
    }
  });

  it('refuses bad data naming the field: unknown key, unknown actor, a step claimed implemented without its call, an API on a step not implemented', () => {
    const raw = () => parseYaml(readFileSync(path.join(ROOT, 'conformance', 'usecases', 'HL-UC02.yaml'), 'utf8')) as any;
    const step = (r: any) => r.useCases[0].scenarios[0].steps[0];
    const cases: Array<[(r: any) => void, RegExp]> = [
      [(r) => (step(r).colour = 'red'), /useCases\[0\]\.scenarios\[0\]\.steps\[0\]\.colour: unknown key/],
      [(r) => (step(r).producer = 'nobody'), /steps\[0\]\.producer: 'nobody' is not one of the actors/],
      [(r) => (step(r).receiver = 'forecasting'), /steps\[0\]\.receiver: 'forecasting' is not in .*useCases\[0\]\.actors/],
      [(r) => (step(r).realisedBy = { component: 'plugins/p2p-market' }), /steps\[0\]\.realisedBy: a step that is implemented names its component and its api or event/],
      [(r) => (step(r).status = 'not-implemented'), /realisedBy\.api: a step not implemented has no API call/],
      [(r) => (step(r).status = 'done'), /steps\[0\]\.status: one of implemented, partial, not-implemented/],
      [(r) => (step(r).realisedBy.api = 'FETCH /api/market'), /realisedBy\.api: "METHOD \/path"/],
      [(r) => (step(r).information = ['gossip']), /information\[0\]: 'gossip' is not one of the informationObjects/],
      [(r) => (r.useCases[1].id = 'LL-UC01'), /useCases\[1\]\.id: LL-UC01 appears twice/],
    ];
    assert.doesNotThrow(() => checkHighLevel(raw(), 'HL-UC02.yaml'));
    for (const [change, message] of cases) {
      const r = raw();
      change(r);
      assert.throws(() => checkHighLevel(r, 'HL-UC02.yaml'), (e: unknown) => e instanceof UseCaseDataError && message.test(e.message), String(message));
    }
  });

  describe('every API call a step names is a route of a running gridflex, of the component the step names', () => {
    let host: TestHost;
    before(async () => {
      host = await startTestHost({
        plugins: ['openadr3', 'p2p-market', 'forecasting', 'baseline', 'meter-data', 'weather', 'pv-degradation', 'devices', 'ledger'],
        config: { 'p2p-market': { jobEvery: '' } },
      });
    });
    after(async () => {
      await host?.close();
    });

    it('matches method, path and plugin', () => {
      const table = host.http.routes();
      const pattern = (p: string): RegExp => new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`);
      const wrong: string[] = [];
      let checked = 0;
      for (const hl of hls) {
        for (const l of hl.useCases) {
          for (const st of allSteps(l)) {
            if (!st.realisedBy.api) continue;
            checked++;
            const [method, p] = st.realisedBy.api.split(' ') as [string, string];
            const plugin = st.realisedBy.component.split('/')[1];
            const hit = table.find((r) => r.methods.includes(method) && pattern(r.path).test(p.split('?')[0]!));
            if (!hit) wrong.push(`${l.fullId} ${st.id}: no route ${st.realisedBy.api}`);
            else if (hit.plugin !== plugin) wrong.push(`${l.fullId} ${st.id}: ${st.realisedBy.api} belongs to ${hit.plugin}, not ${st.realisedBy.component}`);
          }
        }
      }
      assert.deepEqual(wrong, []);
      assert.ok(checked > 30, `${checked} calls checked`);
    });
  });

  it('gridflex usecases export writes the formats asked; bad usage exits 2, bad data 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gf-uc-'));
    try {
      const c = capture();
      assert.equal(await main(['usecases', 'export', '--format', 'iec62559-3', '--format', 'mermaid', '--id', 'HL-UC02', '--out', dir], c.io), 0, c.err.join('\n'));
      assert.deepEqual(readdirSync(dir).sort(), ['HL-UC02-LL-UC01.mmd', 'HL-UC02-LL-UC02.mmd', 'HL-UC02-LL-UC03.mmd', 'HL-UC02-LL-UC04.mmd', 'HL-UC02.xml']);
      assert.deepEqual(iec62559XsdFailures([{ file: path.join(dir, 'HL-UC02.xml') }]), []);
      assert.match(readFileSync(path.join(dir, 'HL-UC02-LL-UC03.mmd'), 'utf8'), /^sequenceDiagram\n[\s\S]*operator->>market: 1\. Clear the book and post the result on chain \[POST \/api\/market\/sessions\/:id\/clear\]/);
      const bad = capture();
      assert.equal(await main(['usecases', 'export', '--format', 'pdf'], bad.io), 2);
      assert.match(bad.err[0]!, /--format pdf: one of iec62559-3, markdown, mermaid, all/);
      const list = capture();
      assert.equal(await main(['usecases', 'list'], list.io), 0);
      assert.match(list.out.join('\n'), /HL-UC02-LL-UC03\s+Session clearing at a uniform price\s+3 implemented, 0 partial, 0 not implemented/);
      const broken = capture();
      const data = mkdtempSync(path.join(tmpdir(), 'gf-uc-data-'));
      try {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(path.join(data, 'HL-UC01.yaml'), 'id: HL-UC01\nname: x\n');
        assert.equal(await main(['usecases', 'list', '--dir', data], broken.io), 1);
        assert.match(broken.err[0]!, /invalid use case data: HL-UC01\.yaml\.narrative: required/);
      } finally {
        rmSync(data, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
