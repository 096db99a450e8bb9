/**
 * IEC 62559-3 XML for our use case model (model.ts): a serialiser and a parser for the public derived
 * schema "Build08082016" (namespace below; the official IEC schema is not public). Our own code, written
 * from the schema's structure: every complex type is a strict `sequence`, so elements are written in the
 * schema's order; child elements are unqualified, only the root carries the namespace.
 *
 * What is read and written: the actor, information object (BusinessObject) and requirement libraries
 * and, per use case, everything in model.ts. Parts of the template we do not model (drawings, areas,
 * business cases, common terms, KPIs, references, child use case drawings) are skipped when parsing,
 * never refused. Pure: no I/O.
 */
import { elementsOf, escText, parseXml, textOf, XmlError, type XElement } from '../openadr2b/xml.js';
import type {
  Actor,
  Condition,
  CustomInformation,
  InformationObject,
  Narrative,
  Objective,
  Remark,
  Requirement,
  RequirementCategory,
  Scenario,
  Step,
  TriggeringEvent,
  UseCase,
  UseCaseActor,
  UseCaseRepository,
  Version,
} from './model.js';

export const IEC62559_3_NS = 'http://www.SYC.org/IEC62559/part3/UC/V01/Build08082016';

/** A document that is not an IEC 62559-3 use case repository we can read; `path` says where. */
export class Iec62559Error extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
  }
}

// ---------------------------------------------------------------- serialiser

type Node = string | undefined | false | null | Node[];

function flat(n: Node, out: string[]): void {
  if (n === undefined || n === false || n === null) return;
  if (Array.isArray(n)) for (const c of n) flat(c, out);
  else out.push(n);
}

function el(name: string, ...children: Node[]): string {
  const parts: string[] = [];
  flat(children, parts);
  return `<${name}>${parts.join('')}</${name}>`;
}

/** A simple element, omitted when the value is undefined ('' gives an empty element). */
function opt(name: string, value: string | undefined): Node {
  return value === undefined ? undefined : `<${name}>${escText(value)}</${name}>`;
}

function req(name: string, value: string): string {
  return `<${name}>${escText(value)}</${name}>`;
}

function refs(name: string, ids: string[]): Node {
  return ids.map((id) => el(name, req('mRID', id)));
}

function condition(name: string, c: Condition): string {
  return el(name, opt('description', c.description), opt('mRID', c.id), opt('name', c.name), opt('number', c.number));
}

function step(name: string, s: Step): string {
  return el(
    name,
    refs('BusinessObject', s.informationObjectIds),
    s.children.map((c) => step('ChildActivity', c)),
    req('description', s.description),
    opt('event', s.event),
    refs('InformationProducer', s.producerIds),
    refs('InformationReceiver', s.receiverIds),
    opt('mRID', s.id),
    req('name', s.name),
    opt('number', s.number),
    refs('Requirement', s.requirementIds),
    opt('service', s.service),
  );
}

function scenario(s: Scenario): string {
  return el(
    'Scenario',
    s.steps.map((st) => step('Activity', st)),
    opt('description', s.description),
    opt('mRID', s.id),
    req('name', s.name),
    opt('number', s.number),
    s.postconditions.map((c) => condition('Postcondition', c)),
    s.preconditions.map((c) => condition('Precondition', c)),
    refs('PrimaryActor', s.primaryActorIds),
    refs('Requirement', s.requirementIds),
    s.triggeringEvents.map((t) => el('TriggeringEvent', opt('description', t.description), opt('mRID', t.id), opt('name', t.name))),
  );
}

function useCase(u: UseCase): string {
  return el(
    'UseCase',
    u.actors.length > 0 &&
      el(
        'ActorGrouping',
        u.actors.map((a) => el('FurtherActorInformation', refs('Actor', [a.actorId]), opt('description', a.description))),
      ),
    u.assumptions.map((c) => condition('Assumption', c)),
    opt('classification', u.classification),
    u.customInformation.map((c) => el('CustomInformation', opt('key', c.key), opt('mRID', c.id), opt('reference', c.reference), opt('value', c.value))),
    req('identifier', u.identifier),
    opt('keywords', u.keywords),
    opt('levelOfDepth', u.levelOfDepth),
    opt('mRID', u.id),
    req('name', u.name),
    u.narrative && el('Narrative', opt('completeDescription', u.narrative.complete), opt('mRID', u.narrative.id), req('shortDescription', u.narrative.short)),
    opt('nature', u.nature),
    u.prerequisites.map((c) => condition('Prerequisite', c)),
    refs('PrimaryActor', u.primaryActorIds),
    opt('prioritization', u.prioritization),
    u.objectives.map((o) => el('RelatedObjective', opt('description', o.description), opt('mRID', o.id), req('name', o.name))),
    refs('RelatedUseCase', u.relatedUseCaseIds),
    u.remarks.map((r) => el('Remark', opt('description', r.description), opt('mRID', r.id))),
    u.scenarios.map(scenario),
    opt('scope', u.scope),
    u.versions.map((v) =>
      el(
        'Version',
        opt('approvalStatus', v.approvalStatus),
        v.authors.map((a) => el('Author', req('name', a))),
        opt('changes', v.changes),
        req('date', v.date),
        opt('mRID', v.id),
        opt('number', v.number),
      ),
    ),
  );
}

/** The repository as an IEC 62559-3 document (UTF-8, indented two spaces). */
export function serialiseRepository(repo: UseCaseRepository): string {
  const body = [
    repo.actors.length > 0 && el('ActorLibrary', repo.actors.map((a: Actor) => el('Actor', opt('description', a.description), req('mRID', a.id), req('name', a.name), opt('type', a.type)))),
    repo.informationObjects.length > 0 &&
      el(
        'BusinessObjectLibrary',
        repo.informationObjects.map((o) =>
          el('BusinessObject', opt('description', o.description), req('identifier', o.identifier), req('mRID', o.id), req('name', o.name), refs('Requirement', o.requirementIds)),
        ),
      ),
    opt('description', repo.description),
    opt('mRID', repo.id),
    req('name', repo.name),
    repo.requirementCategories.length > 0 &&
      el(
        'RequirementLibrary',
        repo.requirementCategories.map((c) =>
          el(
            'RequirementCategory',
            opt('description', c.description),
            req('identifier', c.identifier),
            req('mRID', c.id),
            req('name', c.name),
            c.requirements.map((r) => el('Requirement', opt('description', r.description), opt('identifier', r.identifier), req('mRID', r.id), opt('name', r.name))),
          ),
        ),
      ),
    repo.useCases.length > 0 && el('UseCaseLibrary', repo.useCases.map(useCase)),
  ];
  const parts: string[] = [];
  flat(body, parts);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${indent(`<UC:UseCaseRepository xmlns:UC="${IEC62559_3_NS}">${parts.join('')}</UC:UseCaseRepository>`)}\n`;
}

/** Pretty-prints our own output: a newline and indentation before every tag that opens or closes a parent. */
function indent(xml: string): string {
  const tokens = xml.match(/<[^>]+>|[^<]+/g) ?? [];
  const lines: string[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith('</')) {
      depth--;
      lines.push(`${'  '.repeat(depth)}${t}`);
    } else if (t.startsWith('<')) {
      // A leaf: <a>text</a> or <a></a> on one line.
      const next = tokens[i + 1];
      const after = tokens[i + 2];
      if (next !== undefined && !next.startsWith('<') && after?.startsWith('</')) {
        lines.push(`${'  '.repeat(depth)}${t}${next}${after}`);
        i += 2;
      } else if (next?.startsWith('</')) {
        lines.push(`${'  '.repeat(depth)}${t}${next}`);
        i += 1;
      } else {
        lines.push(`${'  '.repeat(depth)}${t}`);
        depth++;
      }
    } else {
      lines.push(`${'  '.repeat(depth)}${t}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- parser

class Reader {
  private readonly kids: XElement[];
  constructor(
    readonly node: XElement,
    readonly path: string,
  ) {
    this.kids = elementsOf(node);
    for (const k of this.kids) if (k.uri !== '') throw new Iec62559Error(`element ${k.prefix ? `${k.prefix}:` : ''}${k.local} is in namespace '${k.uri}'; the schema's child elements are unqualified`, `${path}/${k.local}`);
  }
  all(name: string): Reader[] {
    return this.kids.filter((k) => k.local === name).map((k, i) => new Reader(k, `${this.path}/${name}[${i + 1}]`));
  }
  one(name: string): Reader | undefined {
    const found = this.all(name);
    if (found.length > 1) throw new Iec62559Error(`${name} appears ${found.length} times, the schema allows one`, this.path);
    return found[0];
  }
  text(name: string): string | undefined {
    const r = this.one(name);
    if (!r) return undefined;
    if (elementsOf(r.node).length > 0) throw new Iec62559Error('expected text, found elements', r.path);
    return textOf(r.node);
  }
  required(name: string): string {
    const v = this.text(name);
    if (v === undefined) throw new Iec62559Error(`${name} is required`, this.path);
    return v;
  }
  refs(name: string): string[] {
    return this.all(name).map((r) => r.required('mRID'));
  }
}

/** Copies only the properties that are defined, so parsed objects compare equal to built ones. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function readCondition(r: Reader): Condition {
  return defined({ id: r.text('mRID'), number: r.text('number'), name: r.text('name'), description: r.text('description') });
}

function readStep(r: Reader): Step {
  return defined({
    id: r.text('mRID'),
    number: r.text('number'),
    name: r.required('name'),
    description: r.required('description'),
    event: r.text('event'),
    service: r.text('service'),
    producerIds: r.refs('InformationProducer'),
    receiverIds: r.refs('InformationReceiver'),
    informationObjectIds: r.refs('BusinessObject'),
    requirementIds: r.refs('Requirement'),
    children: r.all('ChildActivity').map(readStep),
  });
}

function readScenario(r: Reader): Scenario {
  return defined({
    id: r.text('mRID'),
    number: r.text('number'),
    name: r.required('name'),
    description: r.text('description'),
    primaryActorIds: r.refs('PrimaryActor'),
    triggeringEvents: r.all('TriggeringEvent').map((t): TriggeringEvent => defined({ id: t.text('mRID'), name: t.text('name'), description: t.text('description') })),
    preconditions: r.all('Precondition').map(readCondition),
    postconditions: r.all('Postcondition').map(readCondition),
    requirementIds: r.refs('Requirement'),
    steps: r.all('Activity').map(readStep),
  });
}

function readUseCase(r: Reader): UseCase {
  const n = r.one('Narrative');
  const actors: UseCaseActor[] = r
    .all('ActorGrouping')
    .flatMap((g) => g.all('FurtherActorInformation'))
    .flatMap((f) => {
      const description = f.text('description');
      return f.refs('Actor').map((actorId) => defined({ actorId, description }));
    });
  return defined({
    id: r.text('mRID'),
    identifier: r.required('identifier'),
    name: r.required('name'),
    scope: r.text('scope'),
    objectives: r.all('RelatedObjective').map((o): Objective => defined({ id: o.text('mRID'), name: o.required('name'), description: o.text('description') })),
    narrative: n && defined<Narrative>({ id: n.text('mRID'), short: n.required('shortDescription'), complete: n.text('completeDescription') }),
    keywords: r.text('keywords'),
    classification: r.text('classification'),
    levelOfDepth: r.text('levelOfDepth'),
    nature: r.text('nature'),
    prioritization: r.text('prioritization'),
    versions: r.all('Version').map(
      (v): Version =>
        defined({
          id: v.text('mRID'),
          number: v.text('number'),
          date: v.required('date'),
          authors: v.all('Author').map((a) => a.text('name') ?? ''),
          changes: v.text('changes'),
          approvalStatus: v.text('approvalStatus'),
        }),
    ),
    actors,
    primaryActorIds: r.refs('PrimaryActor'),
    prerequisites: r.all('Prerequisite').map(readCondition),
    assumptions: r.all('Assumption').map(readCondition),
    relatedUseCaseIds: r.refs('RelatedUseCase'),
    scenarios: r.all('Scenario').map(readScenario),
    remarks: r.all('Remark').map((m): Remark => defined({ id: m.text('mRID'), description: m.text('description') })),
    customInformation: r
      .all('CustomInformation')
      .map((c): CustomInformation => defined({ id: c.text('mRID'), key: c.text('key'), value: c.text('value'), reference: c.text('reference') })),
  });
}

/**
 * Reads an IEC 62559-3 use case repository. Ids missing in the document (the schema makes most mRIDs
 * optional) stay missing; references must carry one. Throws Iec62559Error (structure) or XmlError (not
 * well-formed; no DTDs, the openadr2b scanner's limits).
 */
export function parseRepository(xml: string): UseCaseRepository {
  let root: XElement;
  try {
    root = parseXml(xml, { maxBytes: 16 * 1024 * 1024, maxDepth: 64, maxNodes: 1_000_000 });
  } catch (e) {
    if (e instanceof XmlError) throw new Iec62559Error(e.message, '/');
    throw e;
  }
  if (root.local !== 'UseCaseRepository' || root.uri !== IEC62559_3_NS) {
    throw new Iec62559Error(`root element is {${root.uri}}${root.local}, expected {${IEC62559_3_NS}}UseCaseRepository`, '/');
  }
  const r = new Reader(root, '/UseCaseRepository');
  const actors = r.all('ActorLibrary').flatMap((l) => l.all('Actor').map((a): Actor => defined({ id: a.required('mRID'), name: a.required('name'), type: a.text('type'), description: a.text('description') })));
  const bol = r.one('BusinessObjectLibrary');
  const informationObjects = (bol?.all('BusinessObject') ?? []).map(
    (o): InformationObject =>
      defined({ id: o.required('mRID'), identifier: o.required('identifier'), name: o.required('name'), description: o.text('description'), requirementIds: o.refs('Requirement') }),
  );
  const rl = r.one('RequirementLibrary');
  const requirementCategories = (rl?.all('RequirementCategory') ?? []).map(
    (c): RequirementCategory =>
      defined({
        id: c.required('mRID'),
        identifier: c.required('identifier'),
        name: c.required('name'),
        description: c.text('description'),
        requirements: c.all('Requirement').map((q): Requirement => defined({ id: q.required('mRID'), identifier: q.text('identifier'), name: q.text('name'), description: q.text('description') })),
      }),
  );
  const ucl = r.one('UseCaseLibrary');
  return defined({
    id: r.text('mRID'),
    name: r.required('name'),
    description: r.text('description'),
    actors,
    informationObjects,
    requirementCategories,
    useCases: (ucl?.all('UseCase') ?? []).map(readUseCase),
  });
}
