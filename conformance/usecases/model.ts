/**
 * The eDREAM use cases as data (HL-UC*.yaml beside this file): their shape, a strict loader that names
 * the offending field, and the mapping onto our IEC 62559 model (standards/iec62559). Format in README.md.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { danglingReferences, type CustomInformation, type Scenario, type Step, type UseCase, type UseCaseRepository } from '../../standards/iec62559/model.js';

export const STATUSES = ['implemented', 'partial', 'not-implemented'] as const;
export type StepStatus = (typeof STATUSES)[number];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export interface ActorDef {
  name: string;
  type: string;
  description?: string;
  /** The gridflex component that plays this actor (system actors). */
  component?: string;
}

export interface InformationDef {
  name: string;
  description?: string;
}

export interface Realisation {
  /** plugins/…, adapters/…, or `none` when nothing realises the step yet. */
  component: string;
  /** "METHOD /path" (koa-style `:param` segments). */
  api?: string;
  /** A job, CLI command, contract transaction or service call, when no HTTP call realises it. */
  event?: string;
}

export interface UcStep {
  id: string;
  /** 1-based within its scenario. */
  number: string;
  name: string;
  description?: string;
  producer: string;
  receiver: string;
  information: string[];
  service: string;
  event?: string;
  realisedBy: Realisation;
  status: StepStatus;
  note?: string;
}

export interface UcScenario {
  name: string;
  kind: 'main' | 'alternate';
  steps: UcStep[];
}

export interface LowLevelUseCase {
  /** e.g. LL-UC03 */
  id: string;
  /** e.g. HL-UC02-LL-UC03 */
  fullId: string;
  name: string;
  narrative: string;
  primaryActors: string[];
  actors: string[];
  triggeringEvent: string;
  preconditions: string[];
  postconditions: string[];
  scenarios: UcScenario[];
}

export interface HighLevelUseCase {
  id: string;
  name: string;
  narrative: { short: string; complete?: string };
  objectives: string[];
  actors: Record<string, ActorDef>;
  informationObjects: Record<string, InformationDef>;
  useCases: LowLevelUseCase[];
}

export class UseCaseDataError extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string, keys: { required: string[]; optional: string[] }): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UseCaseDataError(`${where}: expected a mapping`);
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!keys.required.includes(k) && !keys.optional.includes(k)) throw new UseCaseDataError(`${where}.${k}: unknown key (known: ${[...keys.required, ...keys.optional].join(', ')})`);
  for (const k of keys.required) if (o[k] === undefined) throw new UseCaseDataError(`${where}.${k}: required`);
  return o;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new UseCaseDataError(`${where}: expected a non-empty string`);
  return v.trim();
}

function strList(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) throw new UseCaseDataError(`${where}: expected a list`);
  return v.map((x, i) => str(x, `${where}[${i}]`));
}

function keyOf(set: Record<string, unknown>, key: string, where: string, what: string): string {
  if (!Object.hasOwn(set, key)) throw new UseCaseDataError(`${where}: '${key}' is not one of the ${what} (${Object.keys(set).join(', ')})`);
  return key;
}

/** Checks one HL-UC document (parsed YAML) and returns it typed; `where` prefixes every error. */
export function checkHighLevel(raw: unknown, where: string): HighLevelUseCase {
  const o = obj(raw, where, { required: ['id', 'name', 'narrative', 'actors', 'informationObjects', 'useCases'], optional: ['objectives'] });
  const id = str(o.id, `${where}.id`);
  if (!/^HL-UC\d{2}$/.test(id)) throw new UseCaseDataError(`${where}.id: expected HL-UCnn, got '${id}'`);
  const n = obj(o.narrative, `${where}.narrative`, { required: ['short'], optional: ['complete'] });
  const actorsRaw = obj(o.actors, `${where}.actors`, { required: [], optional: Object.keys((o.actors as Obj) ?? {}) });
  const actors: Record<string, ActorDef> = {};
  for (const [k, v] of Object.entries(actorsRaw)) {
    const w = `${where}.actors.${k}`;
    if (!/^[a-z0-9-]+$/.test(k)) throw new UseCaseDataError(`${w}: actor keys are lower-case words and dashes`);
    const a = obj(v, w, { required: ['name', 'type'], optional: ['description', 'component'] });
    actors[k] = { name: str(a.name, `${w}.name`), type: str(a.type, `${w}.type`), ...(a.description !== undefined ? { description: str(a.description, `${w}.description`) } : {}), ...(a.component !== undefined ? { component: str(a.component, `${w}.component`) } : {}) };
  }
  const infoRaw = obj(o.informationObjects, `${where}.informationObjects`, { required: [], optional: Object.keys((o.informationObjects as Obj) ?? {}) });
  const informationObjects: Record<string, InformationDef> = {};
  for (const [k, v] of Object.entries(infoRaw)) {
    const w = `${where}.informationObjects.${k}`;
    const io = obj(v, w, { required: ['name'], optional: ['description'] });
    informationObjects[k] = { name: str(io.name, `${w}.name`), ...(io.description !== undefined ? { description: str(io.description, `${w}.description`) } : {}) };
  }
  if (!Array.isArray(o.useCases) || o.useCases.length === 0) throw new UseCaseDataError(`${where}.useCases: expected a non-empty list`);
  const seen = new Set<string>();
  const useCases = o.useCases.map((u, i): LowLevelUseCase => {
    const w = `${where}.useCases[${i}]`;
    const l = obj(u, w, { required: ['id', 'name', 'narrative', 'primaryActors', 'actors', 'triggeringEvent', 'preconditions', 'postconditions', 'scenarios'], optional: [] });
    const llId = str(l.id, `${w}.id`);
    if (!/^LL-UC\d{2}$/.test(llId)) throw new UseCaseDataError(`${w}.id: expected LL-UCnn, got '${llId}'`);
    if (seen.has(llId)) throw new UseCaseDataError(`${w}.id: ${llId} appears twice`);
    seen.add(llId);
    const ucActors = strList(l.actors, `${w}.actors`).map((a, j) => keyOf(actors, a, `${w}.actors[${j}]`, 'actors'));
    const inUc = (a: string, ww: string): string => {
      keyOf(actors, a, ww, 'actors');
      if (!ucActors.includes(a)) throw new UseCaseDataError(`${ww}: '${a}' is not in ${w}.actors`);
      return a;
    };
    if (!Array.isArray(l.scenarios) || l.scenarios.length === 0) throw new UseCaseDataError(`${w}.scenarios: expected a non-empty list`);
    const stepIds = new Set<string>();
    const scenarios = l.scenarios.map((s, si): UcScenario => {
      const ws = `${w}.scenarios[${si}]`;
      const sc = obj(s, ws, { required: ['name', 'steps'], optional: ['kind'] });
      const kind = sc.kind === undefined ? 'main' : sc.kind;
      if (kind !== 'main' && kind !== 'alternate') throw new UseCaseDataError(`${ws}.kind: main or alternate`);
      if ((si === 0) !== (kind === 'main')) throw new UseCaseDataError(`${ws}.kind: the first scenario is the main one, the others alternates`);
      if (!Array.isArray(sc.steps) || sc.steps.length === 0) throw new UseCaseDataError(`${ws}.steps: expected a non-empty list`);
      const steps = sc.steps.map((st, k): UcStep => {
        const wt = `${ws}.steps[${k}]`;
        const t = obj(st, wt, { required: ['id', 'name', 'producer', 'receiver', 'information', 'service', 'realisedBy', 'status'], optional: ['description', 'event', 'note'] });
        const sid = str(t.id, `${wt}.id`);
        if (!/^[a-z0-9-]+$/.test(sid)) throw new UseCaseDataError(`${wt}.id: lower-case words and dashes`);
        if (stepIds.has(sid)) throw new UseCaseDataError(`${wt}.id: '${sid}' appears twice in ${llId}`);
        stepIds.add(sid);
        const status = str(t.status, `${wt}.status`) as StepStatus;
        if (!STATUSES.includes(status)) throw new UseCaseDataError(`${wt}.status: one of ${STATUSES.join(', ')}`);
        const r = obj(t.realisedBy, `${wt}.realisedBy`, { required: ['component'], optional: ['api', 'event'] });
        const realisedBy: Realisation = { component: str(r.component, `${wt}.realisedBy.component`) };
        if (!/^(plugins|adapters|core)\/[a-z0-9-]+$|^none$/.test(realisedBy.component)) throw new UseCaseDataError(`${wt}.realisedBy.component: plugins/NAME, adapters/NAME, core/NAME or none`);
        if (r.api !== undefined) {
          realisedBy.api = str(r.api, `${wt}.realisedBy.api`);
          const m = /^([A-Z]+) (\/\S*)$/.exec(realisedBy.api);
          if (!m || !(METHODS as readonly string[]).includes(m[1]!)) throw new UseCaseDataError(`${wt}.realisedBy.api: "METHOD /path" with METHOD one of ${METHODS.join(', ')}`);
        }
        if (r.event !== undefined) realisedBy.event = str(r.event, `${wt}.realisedBy.event`);
        if (status !== 'not-implemented' && (realisedBy.component === 'none' || (realisedBy.api === undefined && realisedBy.event === undefined))) {
          throw new UseCaseDataError(`${wt}.realisedBy: a step that is ${status} names its component and its api or event`);
        }
        if (status === 'not-implemented' && realisedBy.api !== undefined) throw new UseCaseDataError(`${wt}.realisedBy.api: a step not implemented has no API call`);
        return {
          id: sid,
          number: String(k + 1),
          name: str(t.name, `${wt}.name`),
          ...(t.description !== undefined ? { description: str(t.description, `${wt}.description`) } : {}),
          producer: inUc(str(t.producer, `${wt}.producer`), `${wt}.producer`),
          receiver: inUc(str(t.receiver, `${wt}.receiver`), `${wt}.receiver`),
          information: strList(t.information, `${wt}.information`).map((x, j) => keyOf(informationObjects, x, `${wt}.information[${j}]`, 'informationObjects')),
          service: str(t.service, `${wt}.service`),
          ...(t.event !== undefined ? { event: str(t.event, `${wt}.event`) } : {}),
          realisedBy,
          status,
          ...(t.note !== undefined ? { note: str(t.note, `${wt}.note`) } : {}),
        };
      });
      return { name: str(sc.name, `${ws}.name`), kind, steps };
    });
    return {
      id: llId,
      fullId: `${id}-${llId}`,
      name: str(l.name, `${w}.name`),
      narrative: str(l.narrative, `${w}.narrative`),
      primaryActors: strList(l.primaryActors, `${w}.primaryActors`).map((a, j) => inUc(a, `${w}.primaryActors[${j}]`)),
      actors: ucActors,
      triggeringEvent: str(l.triggeringEvent, `${w}.triggeringEvent`),
      preconditions: strList(l.preconditions, `${w}.preconditions`),
      postconditions: strList(l.postconditions, `${w}.postconditions`),
      scenarios,
    };
  });
  return {
    id,
    name: str(o.name, `${where}.name`),
    narrative: { short: str(n.short, `${where}.narrative.short`), ...(n.complete !== undefined ? { complete: str(n.complete, `${where}.narrative.complete`) } : {}) },
    objectives: o.objectives === undefined ? [] : strList(o.objectives, `${where}.objectives`),
    actors,
    informationObjects,
    useCases,
  };
}

/** The folder with the HL-UC*.yaml files: beside this module, or (compiled into dist/) in the sources. */
export function defaultDataDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, path.resolve(here, '../../../conformance/usecases')]) if (existsSync(path.join(dir, 'HL-UC01.yaml'))) return dir;
  return here;
}

/** Loads and checks every HL-UC*.yaml of `dir`, in id order. */
export function loadUseCases(dir = defaultDataDir()): HighLevelUseCase[] {
  const files = readdirSync(dir).filter((f) => /^HL-UC\d{2}\.yaml$/.test(f)).sort();
  if (files.length === 0) throw new UseCaseDataError(`${dir}: no HL-UCnn.yaml files`);
  return files.map((f) => {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(path.join(dir, f), 'utf8'));
    } catch (e) {
      throw new UseCaseDataError(`${f}: ${(e as Error).message}`);
    }
    const hl = checkHighLevel(raw, f);
    if (`${hl.id}.yaml` !== f) throw new UseCaseDataError(`${f}: its id is ${hl.id}`);
    return hl;
  });
}

/** A stable mRID (UUID form, from SHA-1 of the path) so that exports are reproducible. */
export function mrid(...parts: string[]): string {
  const h = createHash('sha1').update(`gridflex/usecases/${parts.join('/')}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** "plugins/p2p-market: POST /api/market/prosumers" */
export function realisationText(r: Realisation): string {
  if (r.component === 'none') return 'nothing yet';
  return [r.component, r.api ?? r.event].filter(Boolean).join(': ');
}

/** The HL use case and its LL use cases as an IEC 62559 repository (our standards model). */
export function toRepository(hl: HighLevelUseCase): UseCaseRepository {
  const actorId = (k: string): string => mrid(hl.id, 'actor', k);
  const ioId = (k: string): string => mrid(hl.id, 'information', k);
  const llIds = hl.useCases.map((l) => mrid(l.fullId));
  const high: UseCase = {
    id: mrid(hl.id),
    identifier: hl.id,
    name: hl.name,
    objectives: hl.objectives.map((name, i) => ({ id: mrid(hl.id, 'objective', String(i + 1)), name })),
    narrative: { id: mrid(hl.id, 'narrative'), short: hl.narrative.short, ...(hl.narrative.complete ? { complete: hl.narrative.complete } : {}) },
    classification: 'eDREAM',
    levelOfDepth: 'High level',
    nature: 'HLUC',
    versions: [],
    actors: Object.keys(hl.actors).map((k) => ({ actorId: actorId(k) })),
    primaryActorIds: [...new Set(hl.useCases.flatMap((l) => l.primaryActors))].map(actorId),
    prerequisites: [],
    assumptions: [],
    relatedUseCaseIds: llIds,
    scenarios: [],
    remarks: [],
    customInformation: [],
  };
  const lows = hl.useCases.map((l): UseCase => {
    const custom: CustomInformation[] = [];
    const scenarios = l.scenarios.map((s, si): Scenario => {
      const steps = s.steps.map((st): Step => {
        const id = mrid(l.fullId, 'step', st.id);
        const info = (key: string, value: string): void => {
          custom.push({ id: mrid(l.fullId, 'step', st.id, key), key, value, reference: id });
        };
        info('gridflex.status', st.status);
        info('gridflex.realisedBy', realisationText(st.realisedBy));
        if (st.note) info('gridflex.note', st.note);
        return {
          id,
          number: st.number,
          name: st.name,
          description: [st.description, `Realised by ${realisationText(st.realisedBy)} (${st.status}).`, st.note].filter(Boolean).join(' '),
          ...(st.event ? { event: st.event } : {}),
          service: st.service,
          producerIds: [actorId(st.producer)],
          receiverIds: [actorId(st.receiver)],
          informationObjectIds: st.information.map(ioId),
          requirementIds: [],
          children: [],
        };
      });
      const main = s.kind === 'main';
      return {
        id: mrid(l.fullId, 'scenario', String(si + 1)),
        number: String(si + 1),
        name: s.name,
        description: main ? 'Main flow' : 'Alternate course',
        primaryActorIds: l.primaryActors.map(actorId),
        triggeringEvents: main ? [{ id: mrid(l.fullId, 'trigger'), name: l.triggeringEvent }] : [],
        preconditions: main ? l.preconditions.map((name, i) => ({ id: mrid(l.fullId, 'pre', String(i + 1)), number: String(i + 1), name })) : [],
        postconditions: main ? l.postconditions.map((name, i) => ({ id: mrid(l.fullId, 'post', String(i + 1)), number: String(i + 1), name })) : [],
        requirementIds: [],
        steps,
      };
    });
    return {
      id: mrid(l.fullId),
      identifier: l.fullId,
      name: l.name,
      objectives: [],
      narrative: { id: mrid(l.fullId, 'narrative'), short: l.narrative },
      classification: 'eDREAM',
      levelOfDepth: 'Detailed',
      nature: 'SUC',
      versions: [],
      actors: l.actors.map((k) => ({ actorId: actorId(k), ...(hl.actors[k]!.component ? { description: `gridflex component ${hl.actors[k]!.component}` } : {}) })),
      primaryActorIds: l.primaryActors.map(actorId),
      prerequisites: [],
      assumptions: [],
      relatedUseCaseIds: [mrid(hl.id)],
      scenarios,
      remarks: [],
      customInformation: custom,
    };
  });
  const repo: UseCaseRepository = {
    id: mrid(hl.id, 'repository'),
    name: `gridflex use cases: ${hl.id} ${hl.name}`,
    description: 'The eDREAM use cases as gridflex realises them; generated by gridflex usecases export from conformance/usecases.',
    actors: Object.entries(hl.actors).map(([k, a]) => ({ id: actorId(k), name: a.name, type: a.type, ...(a.description ? { description: a.description } : {}) })),
    informationObjects: Object.entries(hl.informationObjects).map(([k, io]) => ({ id: ioId(k), identifier: k, name: io.name, ...(io.description ? { description: io.description } : {}), requirementIds: [] })),
    requirementCategories: [],
    useCases: [high, ...lows],
  };
  const dangling = danglingReferences(repo);
  if (dangling.length) throw new UseCaseDataError(`${hl.id}: ${dangling.join('; ')}`);
  return repo;
}

/** Step counts per status. */
export function statusCounts(steps: UcStep[]): Record<StepStatus, number> {
  const c = { implemented: 0, partial: 0, 'not-implemented': 0 };
  for (const s of steps) c[s.status]++;
  return c;
}

export function allSteps(x: HighLevelUseCase | LowLevelUseCase): UcStep[] {
  const lls = 'useCases' in x ? x.useCases : [x];
  return lls.flatMap((l) => l.scenarios.flatMap((s) => s.steps));
}
