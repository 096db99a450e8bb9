import type { SuiteDef } from '../../model.js';
import { accessCases, authCases } from './access.js';
import { prepare, type Vtn } from './context.js';
import { mqttCases, webhookCases } from './notify.js';
import { objectCases } from './objects.js';
import { openapiCases } from './openapi.js';
import { pagingCases, timeCases } from './paging-time.js';
import { targetingCases } from './targeting.js';

/**
 * `openadr3-vtn`: an OpenADR 3.1.0 VTN, seen from BL and VEN clients. Cases run in this order; those
 * over the whole run's exchanges (OpenAPI schemas, problem bodies, coverage) come last.
 */
export const openadr3VtnSuite: SuiteDef<Vtn> = {
  id: 'openadr3-vtn',
  title: 'OpenADR 3.1.0 VTN',
  prepare,
  cases: () => [
    ...authCases(),
    ...objectCases(),
    ...targetingCases(),
    ...pagingCases(),
    ...timeCases(),
    ...webhookCases(),
    ...mqttCases(),
    ...accessCases(),
    ...openapiCases(),
  ],
  cleanup: (v) => v.cleanup(),
  requests: (v) => v.log.length,
};
