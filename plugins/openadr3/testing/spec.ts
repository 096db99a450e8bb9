import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/** Where the shared specs are (tests run from the repository root, beside ../shared). */
export const SPEC_DIR = path.resolve(process.cwd(), '../shared/specs/openadr3/3.1.0');

type Json = Record<string, any>;

function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (node && typeof node === 'object') {
    const out: Json = {};
    const n = node as Json;
    // OpenAPI 3.0 keeps draft-04's boolean exclusiveMaximum/exclusiveMinimum; ajv wants numbers.
    if (n.exclusiveMaximum === true && typeof n.maximum === 'number') out.exclusiveMaximum = n.maximum;
    if (n.exclusiveMinimum === true && typeof n.minimum === 'number') out.exclusiveMinimum = n.minimum;
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'exclusiveMaximum' || k === 'exclusiveMinimum') && typeof v === 'boolean') continue;
      if (k === 'maximum' && n.exclusiveMaximum === true) continue;
      if (k === 'minimum' && n.exclusiveMinimum === true) continue;
      // OpenAPI-only keywords ajv does not take (discriminator on anyOf; examples).
      if (k === 'discriminator' || k === 'example') continue;
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `openadr3.json${v}` : strip(v);
    }
    return out;
  }
  return node;
}

/**
 * The 3.1.0 OpenAPI document as a validator of response bodies, by path template, method and
 * status. Test-time only: the spec file is read from ../shared, never copied into the project.
 * One deliberate patch: the `ven`/`resource` schemas combine objectMetadata (objectType VEN/RESOURCE)
 * with BlVenRequest/BlResourceRequest (objectType BL_*_REQUEST), which no object can satisfy; we
 * emit VEN/RESOURCE (docs/openadr3.md) and drop the BL_* enum for response checks.
 */
export class SpecValidator {
  private readonly doc: Json;
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    this.doc = parse(readFileSync(path.join(SPEC_DIR, 'openadr3.yaml'), 'utf8')) as Json;
    const schemas = this.doc.components.schemas as Json;
    delete schemas.BlVenRequest.properties.objectType;
    schemas.BlVenRequest.required = schemas.BlVenRequest.required.filter((r: string) => r !== 'objectType');
    delete schemas.BlResourceRequest.properties.objectType;
    schemas.BlResourceRequest.required = schemas.BlResourceRequest.required.filter((r: string) => r !== 'objectType');
    this.ajv = new Ajv({ strict: false, allErrors: true });
    (addFormats as unknown as (a: Ajv) => void)(this.ajv);
    this.ajv.addFormat('int32', true);
    this.ajv.addFormat('float', true);
    this.ajv.addSchema(strip({ components: this.doc.components }) as Json, 'openadr3.json');
  }

  /**
   * Errors of a webhook notification body: the `notification` schema, with its `object` checked
   * against the schema its objectType names (the discriminator's meaning; a bare oneOf would be
   * ambiguous because the object schemas overlap).
   */
  checkNotification(body: Json): string[] {
    const schemas = this.doc.components.schemas as Json;
    const envelope = structuredClone(schemas.notification) as Json;
    envelope.properties.object = { type: 'object' };
    const errors: string[] = [];
    const top = this.ajv.compile(strip(envelope) as Json);
    if (!top(body)) errors.push(...(top.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}`));
    const name = String(body.objectType ?? '').toLowerCase();
    if (!schemas[name]) return [...errors, `no schema for objectType ${body.objectType}`];
    const obj = this.ajv.compile({ $ref: `openadr3.json#/components/schemas/${name}` });
    if (!obj(body.object)) errors.push(...(obj.errors ?? []).map((e) => `/object${e.instancePath} ${e.message}`));
    return errors;
  }

  /** The spec's statuses for an operation (undefined when the path or method is not in the spec). */
  statuses(template: string, method: string): string[] | undefined {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    return op ? Object.keys(op.responses) : undefined;
  }

  /** Errors of `body` against the schema for (template, method, status); unlisted error statuses use `problem`. */
  check(template: string, method: string, status: number, body: unknown): string[] {
    const key = `${method} ${template} ${status}`;
    let fn = this.cache.get(key);
    if (!fn) {
      const op = this.doc.paths[template]?.[method.toLowerCase()];
      if (!op) return [`${method} ${template} is not in the spec`];
      let resp = op.responses[String(status)];
      if (!resp) {
        if (status < 400) return [`${method} ${template} has no ${status} response in the spec`];
        resp = { content: { 'application/json': { schema: { $ref: '#/components/schemas/problem' } } } };
      }
      if (resp.$ref) resp = this.doc.components.responses[resp.$ref.split('/').pop()];
      const schema = resp.content?.['application/json']?.schema;
      if (!schema) return [];
      fn = this.ajv.compile(strip(schema) as Json);
      this.cache.set(key, fn);
    }
    return fn(body) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}`);
  }
}
