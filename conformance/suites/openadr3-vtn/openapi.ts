import { fail, skip } from '../../expect.js';
import { API, D, def, OPERATIONS, type Case } from './access.js';

/** Cases over everything the run exchanged; they come last. */
export function openapiCases(): Case[] {
  const g = 'openapi';
  return [
    def(g, 'response-schemas', 'required', API('paths (response schemas)'), 'every successful response body in this run matches the OpenAPI schema for its path, method and status', async (v) => {
      const spec = v.requireSpec();
      let first: { msg: string; x: (typeof v.log)[number]['exchange'] } | undefined;
      let bad = 0;
      let checked = 0;
      for (const r of v.log) {
        const res = r.exchange.response;
        // Error answers are the problem-bodies case's.
        if (!res || res.status >= 400) continue;
        checked++;
        const errors = spec.checkResponse(r.template, r.method, res.status, res.json ?? res.body);
        if (errors.length) {
          bad++;
          first ??= { msg: `${r.method} ${r.template} ${res.status}: ${errors.join('; ')}`, x: r.exchange };
        }
      }
      if (checked === 0) skip('no responses to check');
      if (first) fail(`${bad} of ${checked} responses do not match their schema; first: ${first.msg}`, first.x);
    }),
    def(g, 'problem-bodies', 'required', D('§Problem ("On 40x and 500 responses, a VTN SHALL respond with a problem object")'), 'every 4xx and 5xx answer in this run carries a JSON problem object', async (v) => {
      let bad = 0;
      let seen = 0;
      let first: (typeof v.log)[number]['exchange'] | undefined;
      for (const r of v.log) {
        const res = r.exchange.response;
        if (!res || res.status < 400) continue;
        seen++;
        const j = res.json as Record<string, unknown> | undefined;
        const ok = j !== undefined && typeof j === 'object' && !Array.isArray(j) && (v.spec ? v.spec.checkSchema('problem', j).length === 0 : true);
        if (!ok) {
          bad++;
          first ??= r.exchange;
        }
      }
      if (seen === 0) skip('no error answers in this run');
      if (first) fail(`${bad} of ${seen} error answers carry no problem object`, first);
    }),
    def(g, 'problem-content-type', 'recommended', { doc: 'RFC 7807', ref: '§3 (application/problem+json)' }, 'error answers are served as application/problem+json (or application/json)', async (v) => {
      const bad = v.log.find((r) => r.exchange.response && r.exchange.response.status >= 400 && !/^application\/(problem\+)?json/i.test(r.exchange.response.headers['content-type'] ?? ''));
      if (bad) fail(`content type '${bad.exchange.response!.headers['content-type'] ?? ''}'`, bad.exchange);
    }),
    def(g, 'coverage', 'recommended', API('paths'), 'this run exercised every operation of the OpenAPI document', async (v) => {
      const spec = v.requireSpec();
      if (v.options.only?.length) skip('--only ran part of the suite');
      const seen = new Set(v.log.map((r) => `${r.method} ${r.template}`));
      const missing = spec.operations().filter((o) => !seen.has(`${o.method} ${o.template}`)).map((o) => `${o.method} ${o.template}`);
      const unknown = OPERATIONS.map((o) => `${o.method} ${o.template}`).filter((k) => !spec.operations().some((o) => `${o.method} ${o.template}` === k));
      if (unknown.length) fail(`the runner's operations are not in the document: ${unknown.join(', ')}`);
      if (missing.length) fail(`operations never exercised: ${missing.join(', ')}`);
    }),
  ];
}
