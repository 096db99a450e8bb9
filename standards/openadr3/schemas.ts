/**
 * OpenADR 3.1.0 request schemas, written by us from `openadr3.yaml` (components/schemas) and
 * Definition.md. JSON Schema (draft 2020-12 subset ajv understands). Nullable fields are written as
 * type unions. Unknown properties are allowed and ignored (Definition §Message validation: "Content
 * that is not described by a message schema MAY be ignored"); the stores keep only known ones.
 */

const str128 = { type: 'string', minLength: 1, maxLength: 128 } as const;
const nullableStr = { type: ['string', 'null'] } as const;

export const objectIdSchema = { type: 'string', pattern: '^[a-zA-Z0-9_-]*$', minLength: 1, maxLength: 128 } as const;
export const dateTimeSchema = { type: 'string', format: 'date-time' } as const;
/** ISO 8601 duration; the spec's own pattern, restated. */
export const durationSchema = {
  type: 'string',
  pattern: '^(-?)P(?=\\d|T\\d)(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)([DW]))?(?:T(?:(\\d+)H)?(?:(\\d+)M)?(?:(\\d+(?:\\.\\d+)?)S)?)?$',
} as const;
export const targetSchema = str128;
const targetsSchema = { type: ['array', 'null'], items: targetSchema } as const;

export const intervalPeriodSchema = {
  type: 'object',
  properties: { start: dateTimeSchema, duration: durationSchema, randomizeStart: durationSchema },
} as const;

export const pointSchema = { type: 'object', required: ['x', 'y'], properties: { x: { type: 'number' }, y: { type: 'number' } } } as const;

export const valuesMapSchema = {
  type: 'object',
  required: ['type', 'values'],
  properties: {
    type: str128,
    values: { type: 'array', items: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }, pointSchema] } },
  },
} as const;
const valuesMapsSchema = { type: ['array', 'null'], items: valuesMapSchema } as const;

export const intervalSchema = {
  type: 'object',
  required: ['id', 'payloads'],
  properties: {
    id: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
    intervalPeriod: intervalPeriodSchema,
    payloads: { type: 'array', items: valuesMapSchema },
  },
} as const;

export const eventPayloadDescriptorSchema = {
  type: 'object',
  required: ['objectType', 'payloadType'],
  properties: {
    objectType: { const: 'EVENT_PAYLOAD_DESCRIPTOR' },
    payloadType: str128,
    units: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    currency: nullableStr,
  },
} as const;

export const reportPayloadDescriptorSchema = {
  type: 'object',
  required: ['objectType', 'payloadType'],
  properties: {
    objectType: { const: 'REPORT_PAYLOAD_DESCRIPTOR' },
    payloadType: str128,
    readingType: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    units: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    accuracy: { type: ['number', 'null'] },
    confidence: { type: ['integer', 'null'], minimum: 0, maximum: 100 },
  },
} as const;

export const reportDescriptorSchema = {
  type: 'object',
  required: ['payloadType'],
  properties: {
    payloadType: str128,
    readingType: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    units: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    targets: targetsSchema,
    aggregate: { type: 'boolean' },
    startInterval: { type: 'integer' },
    numIntervals: { type: 'integer' },
    historical: { type: 'boolean' },
    frequency: { type: 'integer' },
    repeat: { type: 'integer' },
    reportIntervals: { enum: ['INTERVALS', 'SUB_INTERVALS', 'OPEN_INTERVALS'] },
  },
} as const;

export const programRequestSchema = {
  type: 'object',
  required: ['programName'],
  properties: {
    programName: str128,
    intervalPeriod: intervalPeriodSchema,
    programDescriptions: {
      type: ['array', 'null'],
      items: { type: 'object', required: ['URL'], properties: { URL: { type: 'string', format: 'uri', minLength: 2, maxLength: 8000 } } },
    },
    payloadDescriptors: { type: ['array', 'null'], items: { anyOf: [eventPayloadDescriptorSchema, reportPayloadDescriptorSchema] } },
    attributes: valuesMapsSchema,
    targets: targetsSchema,
  },
} as const;

export const eventRequestSchema = {
  type: 'object',
  required: ['programID'],
  properties: {
    programID: objectIdSchema,
    eventName: nullableStr,
    duration: durationSchema,
    priority: { type: ['integer', 'null'], minimum: 0 },
    targets: targetsSchema,
    reportDescriptors: { type: ['array', 'null'], items: reportDescriptorSchema },
    payloadDescriptors: { type: ['array', 'null'], items: eventPayloadDescriptorSchema },
    intervalPeriod: intervalPeriodSchema,
    intervals: { type: 'array', items: intervalSchema },
  },
} as const;

export const reportRequestSchema = {
  type: 'object',
  required: ['eventID', 'clientName', 'resources'],
  properties: {
    eventID: objectIdSchema,
    clientName: str128,
    reportName: nullableStr,
    payloadDescriptors: { type: ['array', 'null'], items: reportPayloadDescriptorSchema },
    resources: {
      type: 'array',
      items: {
        type: 'object',
        required: ['resourceName', 'intervals'],
        properties: { resourceName: str128, intervalPeriod: intervalPeriodSchema, intervals: { type: 'array', items: intervalSchema } },
      },
    },
  },
} as const;

export const objectTypesSchema = { enum: ['PROGRAM', 'EVENT', 'REPORT', 'SUBSCRIPTION', 'VEN', 'RESOURCE'] } as const;

export const subscriptionRequestSchema = {
  type: 'object',
  required: ['clientName', 'objectOperations'],
  properties: {
    clientName: str128,
    programID: objectIdSchema,
    objectOperations: {
      type: 'array',
      items: {
        type: 'object',
        required: ['objects', 'operations', 'callbackUrl'],
        properties: {
          objects: { type: 'array', items: objectTypesSchema },
          operations: { type: 'array', items: { enum: ['READ', 'CREATE', 'UPDATE', 'DELETE'] } },
          callbackUrl: { type: 'string', format: 'uri', minLength: 2, maxLength: 8000 },
          bearerToken: nullableStr,
        },
      },
    },
    targets: targetsSchema,
  },
} as const;

/** BL writes a ven for a client (and may grant targets); a VEN writes its own (no targets). */
export const blVenRequestSchema = {
  type: 'object',
  required: ['objectType', 'clientID', 'venName'],
  properties: { objectType: { const: 'BL_VEN_REQUEST' }, clientID: str128, targets: targetsSchema, venName: str128, attributes: valuesMapsSchema },
} as const;

export const venVenRequestSchema = {
  type: 'object',
  required: ['objectType', 'venName'],
  properties: { objectType: { const: 'VEN_VEN_REQUEST' }, venName: str128, attributes: valuesMapsSchema },
} as const;

export const blResourceRequestSchema = {
  type: 'object',
  required: ['objectType', 'clientID', 'resourceName', 'venID'],
  properties: {
    objectType: { const: 'BL_RESOURCE_REQUEST' },
    clientID: str128,
    targets: targetsSchema,
    resourceName: str128,
    venID: objectIdSchema,
    attributes: valuesMapsSchema,
  },
} as const;

export const venResourceRequestSchema = {
  type: 'object',
  required: ['objectType', 'resourceName', 'venID'],
  properties: { objectType: { const: 'VEN_RESOURCE_REQUEST' }, resourceName: str128, venID: objectIdSchema, attributes: valuesMapsSchema },
} as const;

/** Query parameters shared by list endpoints (skip ≥ 0; 0 ≤ limit ≤ 50). */
export const pagingSchema = {
  skip: { type: 'integer', minimum: 0, maximum: 2147483647 },
  limit: { type: 'integer', minimum: 0, maximum: 50 },
} as const;

export const clientCredentialRequestSchema = {
  type: 'object',
  required: ['grant_type', 'client_id', 'client_secret'],
  properties: {
    grant_type: { type: 'string' },
    client_id: { type: 'string', minLength: 1, maxLength: 4096 },
    client_secret: { type: 'string', minLength: 1, maxLength: 4096 },
    scope: { type: 'string', maxLength: 4096 },
  },
} as const;
