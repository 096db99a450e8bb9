import { counts, type CaseResult, type Exchange, type RunReport, type Severity } from './model.js';

const SEVERITIES: Severity[] = ['required', 'recommended', 'extension'];

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}… (${s.length} characters)` : s;
}

/** The request and response of an exchange as text, bodies shortened. */
export function exchangeText(x: Exchange, bodyChars = 2000): string {
  const lines = [`> ${x.request.method} ${x.request.url}`];
  for (const [k, v] of Object.entries(x.request.headers)) lines.push(`> ${k}: ${v}`);
  if (x.request.body !== undefined) lines.push(`> ${cut(x.request.body, bodyChars)}`);
  if (x.response) {
    lines.push(`< ${x.response.status}`);
    for (const [k, v] of Object.entries(x.response.headers)) if (/^(content-type|www-authenticate|location)$/i.test(k)) lines.push(`< ${k}: ${v}`);
    if (x.response.body) lines.push(`< ${cut(x.response.body, bodyChars)}`);
  } else if (x.error) lines.push(`< (no answer: ${x.error})`);
  return lines.join('\n');
}

/** The summary: counts per group and severity, then every failure with its exchange. */
export function summaryText(report: RunReport): string {
  const out: string[] = [];
  const groups = [...new Set(report.results.map((r) => r.group))];
  const w = Math.max(5, ...groups.map((g) => g.length));
  out.push(`${report.suite} against ${report.target} (${(report.ms / 1000).toFixed(1)} s${report.requests !== undefined ? `, ${report.requests} requests` : ''})`);
  out.push('');
  out.push(`${'group'.padEnd(w)}  ${'pass'.padStart(5)}  ${'fail'.padStart(5)}  ${'skip'.padStart(5)}`);
  for (const g of groups) {
    const c = counts(report.results.filter((r) => r.group === g));
    out.push(`${g.padEnd(w)}  ${String(c.pass).padStart(5)}  ${String(c.fail).padStart(5)}  ${String(c.skip).padStart(5)}`);
  }
  const all = counts(report.results);
  out.push(`${'total'.padEnd(w)}  ${String(all.pass).padStart(5)}  ${String(all.fail).padStart(5)}  ${String(all.skip).padStart(5)}`);
  out.push('');
  for (const s of SEVERITIES) {
    const c = counts(report.results, s);
    if (c.pass + c.fail + c.skip > 0) out.push(`${s.padEnd(11)} ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped`);
  }
  const failed = report.results.filter((r) => r.outcome === 'fail');
  if (failed.length) {
    out.push('');
    out.push('failures:');
    for (const r of failed) {
      out.push(`- ${r.id} [${r.severity}] ${r.title}`);
      out.push(`  ${r.clause}`);
      out.push(`  ${r.reason ?? ''}`);
      if (r.exchange) out.push(exchangeText(r.exchange, 600).replace(/^/gm, '    '));
    }
  }
  if (report.leftovers.length) {
    out.push('');
    out.push(`not cleaned up (${report.leftovers.length}):`);
    for (const l of report.leftovers) out.push(`- ${l}`);
  }
  return out.join('\n');
}

function xml(s: string): string {
  // Characters XML 1.0 cannot carry at all are dropped.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML: one testsuite per group, one testcase per case (skipped and failure elements as JUnit has them). */
export function junitXml(report: RunReport): string {
  const groups = [...new Set(report.results.map((r) => r.group))];
  const all = counts(report.results);
  const out = [`<?xml version="1.0" encoding="UTF-8"?>`, `<testsuites name="${xml(report.suite)}" tests="${report.results.length}" failures="${all.fail}" skipped="${all.skip}" time="${(report.ms / 1000).toFixed(3)}">`];
  for (const g of groups) {
    const rs = report.results.filter((r) => r.group === g);
    const c = counts(rs);
    out.push(`  <testsuite name="${xml(`${report.suite}.${g}`)}" tests="${rs.length}" failures="${c.fail}" skipped="${c.skip}" errors="0" time="${(rs.reduce((a, r) => a + r.ms, 0) / 1000).toFixed(3)}">`);
    for (const r of rs) {
      out.push(`    <testcase classname="${xml(`${report.suite}.${g}`)}" name="${xml(r.id)}" time="${(r.ms / 1000).toFixed(3)}">`);
      out.push(`      <properties><property name="severity" value="${r.severity}"/><property name="clause" value="${xml(r.clause)}"/><property name="title" value="${xml(r.title)}"/></properties>`);
      if (r.outcome === 'skip') out.push(`      <skipped message="${xml(r.reason ?? '')}"/>`);
      if (r.outcome === 'fail') out.push(`      <failure message="${xml(r.reason ?? '')}" type="${r.severity}">${xml(r.exchange ? exchangeText(r.exchange) : (r.reason ?? ''))}</failure>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A self-contained page (no script): the summary, then every case with its outcome. */
export function htmlReport(report: RunReport): string {
  const all = counts(report.results);
  const row = (r: CaseResult) =>
    `<tr class="${r.outcome}"><td>${html(r.outcome)}</td><td>${html(r.severity)}</td><td><code>${html(r.id)}</code><br>${html(r.title)}</td><td>${html(r.clause)}</td><td>${html(r.reason ?? '')}${
      r.exchange && r.outcome === 'fail' ? `<details><summary>exchange</summary><pre>${html(exchangeText(r.exchange))}</pre></details>` : ''
    }</td></tr>`;
  const sev = SEVERITIES.map((s) => {
    const c = counts(report.results, s);
    return `<li>${s}: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped</li>`;
  }).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(report.suite)} conformance: ${html(report.target)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
tr.pass td:first-child{background:#d7f5d7}tr.fail td:first-child{background:#f8d0d0}tr.skip td:first-child{background:#eee}pre{white-space:pre-wrap;font-size:85%}</style></head>
<body><h1>${html(report.suite)} against ${html(report.target)}</h1>
<p>Started ${html(report.startedAt)}, ${(report.ms / 1000).toFixed(1)} s. ${all.pass} passed, ${all.fail} failed, ${all.skip} skipped.</p><ul>${sev}</ul>
${report.leftovers.length ? `<p>Not cleaned up: ${report.leftovers.map(html).join(', ')}</p>` : ''}
<table><thead><tr><th>outcome</th><th>severity</th><th>case</th><th>clause</th><th>reason</th></tr></thead><tbody>
${report.results.map(row).join('\n')}
</tbody></table></body></html>
`;
}

/** The machine-readable report (`--json` on stdout). */
export function jsonReport(report: RunReport): string {
  const c = counts(report.results);
  return JSON.stringify({ ...report, summary: { ...c, required: counts(report.results, 'required'), recommended: counts(report.results, 'recommended'), extension: counts(report.results, 'extension') } });
}
