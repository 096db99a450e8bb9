import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The public derived IEC 62559-3 schema, read from ../shared at test time (never copied into the project). */
export const IEC62559_XSD = path.resolve(process.cwd(), '../shared/specs/iec62559/IEC62559-3_UC_Build08082016.xsd');
export const ONENET_XML = path.resolve(process.cwd(), '../shared/specs/iec62559/OneNet_EACL-SL-01_UseCases.xml');

/**
 * Validates documents (text, or `{file}`) against the schema with xmllint (Debian's libxml2-utils), in
 * one process. Returns xmllint's complaints; [] when every document validates.
 */
export function iec62559XsdFailures(docs: Array<string | { file: string }>): string[] {
  if (!docs.length) return [];
  const dir = mkdtempSync(path.join(tmpdir(), 'gf-iec62559-'));
  try {
    const files = docs.map((d, i) => {
      if (typeof d !== 'string') return d.file;
      const f = path.join(dir, `d${i}.xml`);
      writeFileSync(f, d);
      return f;
    });
    const r = spawnSync('xmllint', ['--noout', '--schema', IEC62559_XSD, ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new Error(`xmllint is needed (Debian package libxml2-utils): ${r.error.message}`);
    const complaints = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/ validates$/.test(l));
    if (r.status !== 0 && complaints.length === 0) complaints.push(`xmllint exited ${r.status}`);
    return complaints;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
