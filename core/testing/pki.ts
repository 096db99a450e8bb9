import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: TestCert;
  /** A certificate signed by the CA (serverAuth and clientAuth, SAN 127.0.0.1 and localhost). */
  issue(name: string): TestCert;
}

/** A throwaway CA made with the openssl command line (tests only). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'gf-pki-'));
  // node-opcua's PKI sets OPENSSL_CONF in this process (to 'undefined' when it has none): openssl must not see it.
  const env = { ...process.env };
  delete env.OPENSSL_CONF;
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=gridflex test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const load = (name: string): TestCert => ({
    certPem: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    keyPem: readFileSync(join(dir, `${name}.key`), 'utf8'),
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
  });
  return {
    dir,
    ca: load('ca'),
    issue(name: string): TestCert {
      run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext);
      return load(name);
    },
  };
}
