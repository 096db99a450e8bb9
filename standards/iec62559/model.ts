/**
 * Our own types for the IEC 62559-2 use case template, shaped after the information model of the
 * IEC 62559-3 exchange format (the public derived schema "Build08082016", see `../shared/specs/iec62559`).
 * Ids are the template's `mRID`s; references between objects are by id. Pure: no I/O.
 *
 * The template's sections and where they live here:
 * - 1 Description: `UseCase` identifier, name, scope, objectives, narrative, keywords, classification,
 *   level of depth, nature, prioritisation, versions, related use cases;
 * - 3 Technical details: `UseCase.actors` (the actors of the use case, from the repository's `actors`),
 *   `prerequisites`, `assumptions`;
 * - 4 Step by step analysis: `Scenario` with its triggering events, primary actors, pre- and
 *   post-conditions and numbered `Step`s (information producer, receiver, exchanged information objects,
 *   service, requirements);
 * - 5 Information exchanged: the repository's `informationObjects` (the schema's BusinessObject);
 * - 6 Requirements: the repository's `requirementCategories`;
 * - 8 Custom information: `UseCase.customInformation` (key, value, reference to any object's id).
 */

export interface Actor {
  id: string;
  name: string;
  /** e.g. Business, System, Person, Device. */
  type?: string;
  description?: string;
}

/** An information object exchanged in a step (the schema's BusinessObject). */
export interface InformationObject {
  id: string;
  identifier: string;
  name: string;
  description?: string;
  requirementIds: string[];
}

export interface Requirement {
  id: string;
  identifier?: string;
  name?: string;
  description?: string;
}

export interface RequirementCategory {
  id: string;
  identifier: string;
  name: string;
  description?: string;
  requirements: Requirement[];
}

/** A numbered condition: prerequisite, assumption, pre- or post-condition. */
export interface Condition {
  id?: string;
  number?: string;
  name?: string;
  description?: string;
}

export interface TriggeringEvent {
  id?: string;
  name?: string;
  description?: string;
}

export interface Objective {
  id?: string;
  name: string;
  description?: string;
}

export interface Narrative {
  id?: string;
  short: string;
  complete?: string;
}

export interface Version {
  id?: string;
  number?: string;
  /** xsd:dateTime, e.g. 2026-12-04T00:00:00Z. */
  date: string;
  authors: string[];
  changes?: string;
  approvalStatus?: string;
}

export interface CustomInformation {
  id?: string;
  key?: string;
  value?: string;
  /** The id of the object the information is about (e.g. a step). */
  reference?: string;
}

export interface Remark {
  id?: string;
  description?: string;
}

/** One actor's part in a use case (the schema's ActorGrouping / FurtherActorInformation). */
export interface UseCaseActor {
  actorId: string;
  /** Further information on this actor specific to the use case. */
  description?: string;
}

/**
 * Step types of IEC 62559-2 (the "service" column). Others are allowed: the schema keeps the field a
 * free string.
 */
export const SERVICES = ['REPORT', 'GET', 'CREATE', 'CHANGE', 'DELETE', 'CANCEL', 'EXECUTE', 'REPEAT', 'TIMER'] as const;

export interface Step {
  id?: string;
  /** "1", "2.1", …: numbered within the scenario. */
  number?: string;
  name: string;
  description: string;
  /** What sets the step off. */
  event?: string;
  /** See SERVICES. */
  service?: string;
  producerIds: string[];
  receiverIds: string[];
  /** The exchanged information objects. */
  informationObjectIds: string[];
  requirementIds: string[];
  children: Step[];
}

export interface Scenario {
  id?: string;
  number?: string;
  name: string;
  description?: string;
  primaryActorIds: string[];
  triggeringEvents: TriggeringEvent[];
  preconditions: Condition[];
  postconditions: Condition[];
  requirementIds: string[];
  steps: Step[];
}

export interface UseCase {
  id?: string;
  identifier: string;
  name: string;
  scope?: string;
  objectives: Objective[];
  narrative?: Narrative;
  keywords?: string;
  classification?: string;
  /** e.g. High level, Detailed. */
  levelOfDepth?: string;
  /** e.g. HLUC, BUC, SUC. */
  nature?: string;
  prioritization?: string;
  versions: Version[];
  actors: UseCaseActor[];
  primaryActorIds: string[];
  prerequisites: Condition[];
  assumptions: Condition[];
  relatedUseCaseIds: string[];
  scenarios: Scenario[];
  remarks: Remark[];
  customInformation: CustomInformation[];
}

export interface UseCaseRepository {
  id?: string;
  name: string;
  description?: string;
  actors: Actor[];
  informationObjects: InformationObject[];
  requirementCategories: RequirementCategory[];
  useCases: UseCase[];
}

/** Every reference in the repository that names no object of it ("UseCase X step 3 producer y"). */
export function danglingReferences(repo: UseCaseRepository): string[] {
  const actors = new Set(repo.actors.map((a) => a.id));
  const objects = new Set(repo.informationObjects.map((o) => o.id));
  const reqs = new Set(repo.requirementCategories.flatMap((c) => c.requirements.map((r) => r.id)));
  const out: string[] = [];
  const check = (set: Set<string>, ids: string[], what: string, where: string): void => {
    for (const id of ids) if (!set.has(id)) out.push(`${where}: ${what} '${id}' is not in the repository`);
  };
  for (const o of repo.informationObjects) check(reqs, o.requirementIds, 'requirement', `information object ${o.identifier}`);
  for (const uc of repo.useCases) {
    const w = `use case ${uc.identifier || uc.name}`;
    check(actors, uc.actors.map((a) => a.actorId), 'actor', w);
    check(actors, uc.primaryActorIds, 'primary actor', w);
    for (const sc of uc.scenarios) {
      const ws = `${w} scenario ${sc.number ?? sc.name}`;
      check(actors, sc.primaryActorIds, 'primary actor', ws);
      check(reqs, sc.requirementIds, 'requirement', ws);
      const walk = (steps: Step[]): void => {
        for (const st of steps) {
          const wst = `${ws} step ${st.number ?? st.name}`;
          check(actors, st.producerIds, 'information producer', wst);
          check(actors, st.receiverIds, 'information receiver', wst);
          check(objects, st.informationObjectIds, 'information object', wst);
          check(reqs, st.requirementIds, 'requirement', wst);
          walk(st.children);
        }
      };
      walk(sc.steps);
    }
  }
  return out;
}
