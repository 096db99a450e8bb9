import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

type Json = Record<string, any>;

/**
 * Where the OpenADR 3.1.0 OpenAPI document is: `--spec-dir`, else `GRIDFLEX_SPECS_DIR`, else
 * `shared/specs/openadr3/3.1.0` beside the repository (from the sources or from dist/). The document
 * is read at run time and never copied into the project.
 */
export function findSpecDir(given?: string): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = given
    ? [given]
    : [
        ...(process.env.GRIDFLEX_SPECS_DIR ? [path.join(process.env.GRIDFLEX_SPECS_DIR, 'openadr3/3.1.0'), process.env.GRIDFLEX_SPECS_DIR] : []),
        path.resolve(here, '../../shared/specs/openadr3/3.1.0'),
        path.resolve(here, '../../../shared/specs/openadr3/3.1.0'),
        path.resolve(process.cwd(), '../shared/specs/openadr3/3.1.0'),
      ];
  return candidates.find((d) => existsSync(path.join(d, 'openadr3.yaml')));
}

/** OpenAPI 3.0 keywords ajv does not take, and local refs pointed at the registered document. */
function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (node && typeof node === 'object') {
    const out: Json = {};
    const n = node as Json;
    if (n.exclusiveMaximum === true && typeof n.maximum === 'number') out.exclusiveMaximum = n.maximum;
    if (n.exclusiveMinimum === true && typeof n.minimum === 'number') out.exclusiveMinimum = n.minimum;
    for (const [k, v] of Object.entries(n)) {
      if ((k === 'exclusiveMaximum' || k === 'exclusiveMinimum') && typeof v === 'boolean') continue;
      if (k === 'maximum' && n.exclusiveMaximum === true) continue;
      if (k === 'minimum' && n.exclusiveMinimum === true) continue;
      if (k === 'discriminator' || k === 'example') continue;
      if (k === 'nullable' && v === true) continue;
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `openadr3.json${v}` : strip(v);
    }
    // OpenAPI 3.0 `nullable: true` means null is also allowed.
    if (n.nullable === true) return { anyOf: [out, { type: 'null' }] };
    return out;
  }
  return node;
}

/** An operation of the OpenAPI document: path template, method and the scopes its security names. */
export interface SpecOperation {
  template: string;
  method: string;
  operationId: string;
  scopes: string[];
  statuses: string[];
}

/**
 * The 3.1.0 OpenAPI document as a validator of what a VTN answers. One relaxation, written in
 * docs/conformance.md: `ven` and `resource` combine objectMetadata (objectType VEN/RESOURCE) with
 * BlVenRequest/BlResourceRequest (objectType BL_*_REQUEST), which no object can satisfy, so the
 * BL_* enum is dropped for response checks.
 */
export class OpenApi {
  readonly doc: Json;
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly dir: string) {
    this.doc = parse(readFileSync(path.join(dir, 'openadr3.yaml'), 'utf8')) as Json;
    const schemas = this.doc.components.schemas as Json;
    for (const name of ['BlVenRequest', 'BlResourceRequest']) {
      delete schemas[name].properties.objectType;
      schemas[name].required = schemas[name].required.filter((r: string) => r !== 'objectType');
    }
    this.ajv = new Ajv({ strict: false, allErrors: true });
    (addFormats as unknown as (a: Ajv) => void)(this.ajv);
    this.ajv.addFormat('int32', true);
    this.ajv.addFormat('float', true);
    this.ajv.addSchema(strip({ components: this.doc.components }) as Json, 'openadr3.json');
  }

  operations(): SpecOperation[] {
    const out: SpecOperation[] = [];
    for (const [template, ops] of Object.entries(this.doc.paths as Json)) {
      for (const [method, op] of Object.entries(ops as Json)) {
        if (!['get', 'post', 'put', 'delete'].includes(method)) continue;
        const scopes = ((op.security ?? []) as Json[]).flatMap((s) => (s.oAuth2ClientCredentials as string[] | undefined) ?? []);
        out.push({ template, method: method.toUpperCase(), operationId: op.operationId, scopes, statuses: Object.keys(op.responses) });
      }
    }
    return out;
  }

  private compile(key: string, schema: Json): ValidateFunction {
    let fn = this.cache.get(key);
    if (!fn) {
      fn = this.ajv.compile(strip(schema) as Json);
      this.cache.set(key, fn);
    }
    return fn;
  }

  private errors(fn: ValidateFunction, body: unknown, prefix = ''): string[] {
    return fn(body) ? [] : (fn.errors ?? []).slice(0, 8).map((e) => `${prefix}${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}`);
  }

  /** Errors of `body` against a named component schema. */
  checkSchema(name: string, body: unknown): string[] {
    if (!this.doc.components.schemas[name]) return [`no schema ${name}`];
    return this.errors(this.compile(`#${name}`, { $ref: `#/components/schemas/${name}` }), body);
  }

  /**
   * Errors of a response body against the schema for (template, method, status). An error status the
   * operation does not list is checked against `problem` (Definition §Problem: every 40x and 500).
   */
  checkResponse(template: string, method: string, status: number, body: unknown): string[] {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) return [`${method} ${template} is not in the OpenAPI document`];
    let resp = op.responses[String(status)];
    if (!resp) {
      if (status < 400) return [`${method} ${template} has no ${status} response in the OpenAPI document`];
      resp = { content: { 'application/json': { schema: { $ref: '#/components/schemas/problem' } } } };
    }
    if (resp.$ref) resp = this.doc.components.responses[String(resp.$ref).split('/').pop()!];
    const schema = resp.content?.['application/json']?.schema;
    if (!schema) return [];
    return this.errors(this.compile(`${method} ${template} ${status}`, schema), body);
  }

  /**
   * Errors of a notification: the `notification` schema, its `object` checked against the schema its
   * objectType names (what the discriminator means; a bare oneOf is ambiguous, the object schemas overlap).
   */
  checkNotification(body: unknown): string[] {
    const schemas = this.doc.components.schemas as Json;
    const envelope = structuredClone(schemas.notification) as Json;
    envelope.properties.object = { type: 'object' };
    const errors = this.errors(this.compile('#notification-envelope', envelope), body);
    const type = String((body as Json | undefined)?.objectType ?? '').toLowerCase();
    if (!schemas[type]) return [...errors, `no schema for objectType ${String((body as Json | undefined)?.objectType)}`];
    return [...errors, ...this.errors(this.compile(`#${type}`, { $ref: `#/components/schemas/${type}` }), (body as Json).object, '/object')];
  }
}
