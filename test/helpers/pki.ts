// A throwaway PKI for TLS tests, made with the openssl command: a cluster CA, a
// second CA nobody trusts, and leaf certificates (serverAuth + clientAuth, naming
// localhost and 127.0.0.1) signed by either, one of them already expired.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: Pem;
  otherCa: Pem;
  /** A leaf of the cluster CA named `name` (files <name>.crt, <name>.key). */
  leaf: (name: string, o?: { ca?: Pem; days?: number }) => Pem;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir: string, name: string): Pem {
  const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '30', '-subj', `/CN=${name}`]);
  return p;
}

export function makePki(dir: string): Pki {
  const ca = newCa(dir, 'ca');
  const otherCa = newCa(dir, 'other-ca');
  const ext = join(dir, 'leaf.ext');
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2\nextendedKeyUsage=serverAuth,clientAuth\n');
  let serial = 1;
  const leaf = (name: string, o: { ca?: Pem; days?: number } = {}): Pem => {
    const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    const csr = join(dir, `${name}.csr`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', csr, '-subj', `/CN=${name}`]);
    const signer = o.ca ?? ca;
    // A negative -days makes a certificate that expired before it was issued: enough for "expired".
    openssl(['x509', '-req', '-in', csr, '-CA', signer.cert, '-CAkey', signer.key, '-set_serial', String(serial++), '-out', p.cert, '-days', String(o.days ?? 30), '-extfile', ext]);
    return p;
  };
  return { dir, ca, otherCa, leaf };
}
