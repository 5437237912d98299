import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** PEM material for a TLS server whose certificate is signed by a throwaway CA. */
export interface TestTlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const SERVER_EXTENSIONS = [
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  'extendedKeyUsage=serverAuth',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
].join('\n');

/**
 * Creates a CA and a server certificate for 127.0.0.1 / localhost with the `openssl` CLI, inside `directory`
 * (which the caller owns and removes). A real CA plus leaf, not a self-signed leaf, because Go clients
 * such as kubectl insist on a proper chain. EC P-256 keys keep this around 50 ms.
 */
export async function generateTestTls(directory: string): Promise<TestTlsMaterial> {
  const file = (name: string) => path.join(directory, name);
  const openssl = (args: string[]) => execFileAsync('openssl', args, { cwd: directory });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl([
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=fake-kube-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl([
    'req',
    ...ecKey,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=fake-kube-apiserver',
  ]);
  await writeFile(file('server.ext'), SERVER_EXTENSIONS);
  await openssl([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-set_serial',
    '1',
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
    '-out',
    file('server.crt'),
  ]);

  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(file('ca.crt'), 'utf8'),
    readFile(file('server.crt'), 'utf8'),
    readFile(file('server.key'), 'utf8'),
  ]);
  return { caPem, certPem, keyPem };
}
