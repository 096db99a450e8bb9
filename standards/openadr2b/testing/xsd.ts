import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The official 2.0b schema, read from ../shared at test time (never copied into the project). */
export const OADR_XSD = path.resolve(process.cwd(), '../shared/specs/openadr2b/oadr_20b.xsd');

/**
 * Validates documents against oadr_20b.xsd with Debian's xmllint (libxml2-utils), in one process.
 * Returns the failures: document index and xmllint's complaint.
 */
export function xsdFailures(docs: string[]): Array<{ index: number; error: string }> {
  if (!docs.length) return [];
  const dir = mkdtempSync(path.join(tmpdir(), 'gf-xsd-'));
  try {
    const files = docs.map((d, i) => {
      const f = path.join(dir, `m${i}.xml`);
      writeFileSync(f, d);
      return f;
    });
    const r = spawnSync('xmllint', ['--noout', '--schema', OADR_XSD, ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new Error(`xmllint is needed (Debian package libxml2-utils): ${r.error.message}`);
    const out: Array<{ index: number; error: string }> = [];
    for (const line of r.stderr.split('\n')) {
      const m = /m(\d+)\.xml(?::\d+)?: (.*)/.exec(line);
      if (m && !/ validates$/.test(line) && !/fails to validate$/.test(line)) out.push({ index: Number(m[1]), error: m[2]! });
      else if (m && /fails to validate$/.test(line) && !out.some((x) => x.index === Number(m[1]))) out.push({ index: Number(m[1]), error: line });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The message element's local name in a payload document (for "every message type" checks). */
export function messageName(xml: string): string | undefined {
  return /<(?:[A-Za-z0-9]+:)?oadrSignedObject\b[^>]*>\s*<(?:[A-Za-z0-9]+:)?([A-Za-z]+)/.exec(xml)?.[1];
}
