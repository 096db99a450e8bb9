import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { danglingReferences, type UseCaseRepository } from './model.js';
import { iec62559XsdFailures, ONENET_XML } from './testing/xsd.js';
import { Iec62559Error, IEC62559_3_NS, parseRepository, serialiseRepository } from './xml.js';

/** A repository using every part of our model, with text that needs escaping. */
function sample(): UseCaseRepository {
  return {
    id: 'repo-1',
    name: 'Sample <repository> & co',
    description: 'for the round trip',
    actors: [
      { id: 'a-dso', name: 'DSO', type: 'Business', description: 'operates the "grid"' },
      { id: 'a-vtn', name: 'gridflex VTN', type: 'System' },
    ],
    informationObjects: [{ id: 'io-1', identifier: 'IO1', name: 'Flexibility request', description: 'kW & window', requirementIds: ['r-1'] }],
    requirementCategories: [{ id: 'rc-1', identifier: 'SEC', name: 'Security', requirements: [{ id: 'r-1', identifier: 'SEC-1', name: 'Authenticated', description: 'bearer token' }] }],
    useCases: [
      {
        id: 'uc-1',
        identifier: 'HL-UC01-LL-UC05',
        name: 'DSO flexibility request',
        scope: 'distribution grid',
        objectives: [{ id: 'o-1', name: 'Avoid congestion' }],
        narrative: { id: 'n-1', short: 'The DSO asks for flexibility.', complete: 'Line one.\nLine two: a < b.' },
        keywords: 'flexibility, congestion',
        classification: 'eDREAM',
        levelOfDepth: 'Detailed',
        nature: 'SUC',
        prioritization: 'high',
        versions: [{ id: 'v-1', number: '1', date: '2026-12-04T00:00:00Z', authors: ['gridflex'], changes: 'first', approvalStatus: 'draft' }],
        actors: [{ actorId: 'a-dso', description: 'requests' }, { actorId: 'a-vtn' }],
        primaryActorIds: ['a-dso'],
        prerequisites: [{ id: 'p-1', number: '1', name: 'Forecast available' }],
        assumptions: [{ number: '1', name: 'Grid model known', description: '' }],
        relatedUseCaseIds: ['uc-2'],
        scenarios: [
          {
            id: 's-1',
            number: '1',
            name: 'Main',
            description: 'normal course',
            primaryActorIds: ['a-dso'],
            triggeringEvents: [{ id: 't-1', name: 'Congestion forecast', description: 'over 90 %' }],
            preconditions: [{ number: '1', name: 'DSO enrolled' }],
            postconditions: [{ number: '1', name: 'Request stored' }],
            requirementIds: ['r-1'],
            steps: [
              {
                id: 'st-1',
                number: '1',
                name: 'Send request',
                description: 'POST /api/x',
                event: 'congestion forecast',
                service: 'CREATE',
                producerIds: ['a-dso'],
                receiverIds: ['a-vtn'],
                informationObjectIds: ['io-1'],
                requirementIds: ['r-1'],
                children: [{ number: '1.1', name: 'Validate', description: '', producerIds: ['a-vtn'], receiverIds: [], informationObjectIds: [], requirementIds: [], children: [] }],
              },
            ],
          },
        ],
        remarks: [{ description: 'none' }],
        customInformation: [{ id: 'ci-1', key: 'gridflex.status', value: 'implemented', reference: 'st-1' }],
      },
      {
        id: 'uc-2',
        identifier: 'HL-UC01',
        name: 'Minimal',
        objectives: [],
        versions: [],
        actors: [],
        primaryActorIds: [],
        prerequisites: [],
        assumptions: [],
        relatedUseCaseIds: [],
        scenarios: [],
        remarks: [],
        customInformation: [],
      },
    ],
  };
}

describe('standards/iec62559: IEC 62559-3 XML', () => {
  const onenet = readFileSync(ONENET_XML, 'utf8');

  it('parses the real OneNet use case (EACL-SL-01): actors, the BUC, its scenarios, numbered steps and information objects', () => {
    const repo = parseRepository(onenet);
    assert.deepEqual(
      repo.actors.map((a) => a.name),
      ['Transmission System Operator (TSO)', 'Distribution System Operator (DSO)', 'Flexibilty Service Provider (FSP)', 'Market Operator'],
    );
    assert.equal(repo.actors[3]!.type, 'Harmonised Role');
    assert.equal(repo.useCases.length, 11);
    assert.equal(repo.informationObjects.length, 26);
    const buc = repo.useCases.find((u) => u.nature === 'BUC')!;
    assert.equal(buc.name, 'Congestion management in distribution grids under market conditions');
    assert.equal(buc.levelOfDepth, 'High level');
    assert.equal(buc.keywords, 'Flexibilty, Local flexibilty market, Congestion management');
    assert.match(buc.narrative!.short, /^Due to excessive and increasing energy consumption/);
    assert.deepEqual(buc.prerequisites.map((p) => p.number), ['1', '2']);
    assert.equal(buc.assumptions[0]!.name, 'Local flexibility market');
    assert.equal(buc.objectives.length, 4);
    assert.equal(buc.versions[1]!.authors[0], 'Nermin Suljanović (EIMV)');
    assert.equal(buc.actors.length, 4);
    assert.deepEqual(
      buc.scenarios.map((s) => [s.number, s.name, s.steps.length]),
      [['1', 'Activation', 10], ['2', 'Activation-OTC', 10], ['3', 'Bidding', 11], ['4', 'Grid prequalification', 9], ['5', 'Offering', 9], ['6', 'Prequalification', 7], ['7', 'Product prequalification', 13], ['8', 'Settlement', 14], ['9', 'Settlement-OTC', 10]],
    );
    assert.equal(repo.useCases.flatMap((u) => u.scenarios).flatMap((s) => s.steps).length, 93);
    const step = buc.scenarios[0]!.steps[5]!;
    assert.equal(step.number, '1.6');
    assert.equal(step.name, 'Send acknowledgement');
    assert.deepEqual(step.producerIds.map((id) => repo.actors.find((a) => a.id === id)!.name), ['Flexibilty Service Provider (FSP)']);
    const io = repo.informationObjects.find((o) => o.id === step.informationObjectIds[0])!;
    assert.deepEqual([io.identifier, io.name], ['Info1', 'Activation acknowledgement']);
    assert.deepEqual(danglingReferences(repo), []);
  });

  it('OneNet read and written again validates against the schema and reads back to the same model', () => {
    const repo = parseRepository(onenet);
    const xml = serialiseRepository(repo);
    assert.deepEqual(iec62559XsdFailures([xml]), []);
    assert.deepEqual(parseRepository(xml), repo);
  });

  it('every part of our model survives serialise → parse, and the output validates with xmllint', () => {
    const repo = sample();
    const xml = serialiseRepository(repo);
    assert.ok(xml.startsWith(`<?xml version="1.0" encoding="UTF-8"?>\n<UC:UseCaseRepository xmlns:UC="${IEC62559_3_NS}">`));
    assert.deepEqual(iec62559XsdFailures([xml]), []);
    assert.deepEqual(parseRepository(xml), repo);
  });

  it('the schema check can fail: a document with elements out of the schema order is refused by xmllint', () => {
    const good = serialiseRepository(sample());
    const xml = good.replace('<name>Minimal</name>', '').replace('<identifier>HL-UC01</identifier>', '<name>Minimal</name><identifier>HL-UC01</identifier>');
    assert.notEqual(xml, good);
    assert.deepEqual(parseRepository(xml), sample()); // our reader does not care about order…
    assert.match(iec62559XsdFailures([xml]).join('\n'), /name/); // …the schema does
  });

  it('refuses what is not a use case repository, naming where', () => {
    assert.throws(() => parseRepository('<x/>'), (e: unknown) => e instanceof Iec62559Error && /expected \{http:\/\/www\.SYC\.org/.test(e.message));
    assert.throws(() => parseRepository('<a><b></a>'), (e: unknown) => e instanceof Iec62559Error && /not well-formed/.test(e.message));
    const noName = serialiseRepository(sample()).replace('<name>Minimal</name>', '');
    assert.throws(() => parseRepository(noName), (e: unknown) => e instanceof Iec62559Error && e.path === '/UseCaseRepository/UseCaseLibrary[1]/UseCase[2]' && /name is required/.test(e.message));
    const twice = serialiseRepository(sample()).replace('<scope>distribution grid</scope>', '<scope>a</scope><scope>b</scope>');
    assert.throws(() => parseRepository(twice), /scope appears 2 times/);
    const qualified = serialiseRepository(sample()).replace('<keywords>', '<UC:keywords>').replace('</keywords>', '</UC:keywords>');
    assert.throws(() => parseRepository(qualified), /unqualified/);
    assert.throws(() => parseRepository(`<!DOCTYPE x [<!ENTITY e "e">]><UC:UseCaseRepository xmlns:UC="${IEC62559_3_NS}"><name>&e;</name></UC:UseCaseRepository>`), Iec62559Error);
  });

  it('danglingReferences names a step actor that is not in the repository', () => {
    const repo = sample();
    repo.useCases[0]!.scenarios[0]!.steps[0]!.receiverIds.push('nobody');
    assert.deepEqual(danglingReferences(repo), ["use case HL-UC01-LL-UC05 scenario 1 step 1: information receiver 'nobody' is not in the repository"]);
  });
});
