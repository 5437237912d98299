import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { generateIdentity } from '../../../src/lib/encryption/index.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';

/**
 * `npm run backup -- settings` as a separate process against a cloned database: it shows a deployment's compression,
 * encryption and dead-man settings, changes them only when every flag is valid (a bad recipient changes nothing,
 * not even the valid flags beside it), and never prints a dead-man URL's secret or a pasted identity.
 */
const CLI = 'src/cli/backup.ts';
const SECRET_PATH = 'f3a1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

let harness: BackupHarness;
let workspaceId: string;
let deployment: Deployment;

beforeAll(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  deployment = await createDeployment(harness.db.prisma, workspaceId);
});

afterAll(async () => {
  await harness?.close();
});

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  const cli = startEntryPoint(
    CLI,
    args,
    childEnvironment({
      DATABASE_URL: harness.db.url,
      KUBECONFIG: harness.kube.kubeconfigPath,
      BACKUP_ROOT: harness.root,
    }),
  );
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const code = await cli.exited;
  return { code: typeof code === 'number' ? code : null, stdout, output: cli.output() };
}

const stored = () =>
  harness.db.prisma.deployment.findUniqueOrThrow({
    where: { id: deployment.id },
    select: { backupCompression: true, backupAgeRecipients: true, deadManUrl: true, workspace: true },
  });

describe('backup settings', () => {
  it('shows the defaults: zstd, not encrypted, no dead-man pings', async () => {
    const { code, stdout } = await runCli(['settings', deployment.id]);
    expect(code).toBe(0);
    expect(stdout).toContain(`/${deployment.name}`);
    expect(stdout).toMatch(/compression\s+zstd/);
    expect(stdout).toMatch(/encryption\s+off/);
    expect(stdout).toMatch(/dead-man\s+off/);
  });

  it('refuses an invalid recipient with exit 2 and changes nothing, not even the valid flag beside it', async () => {
    const { identity, text: identityText } = generateIdentity();
    const result = await runCli(['settings', deployment.id, '--compression', 'gzip', '--age-recipients', 'age1typo']);
    expect(result.code).toBe(2);
    expect(result.output).toContain('age recipients');
    expect(result.output).toContain('nothing was changed');
    // An identity pasted where a recipient belongs is a secret: refused without being repeated.
    const secretKey = identityText.split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-1'))!;
    const pasted = await runCli(['settings', deployment.id, '--age-recipients', secretKey]);
    expect(pasted.code).toBe(2);
    expect(pasted.output).not.toContain(secretKey);
    expect(pasted.output).not.toContain(secretKey.slice(20));
    const after = await stored();
    expect(after.backupCompression).toBe('zstd');
    expect(after.backupAgeRecipients).toBeNull();
    expect(identity.recipient.fingerprint).toMatch(/^x25519:/);
  });

  it('sets the deployment’s recipients and compression, then inherits the workspace’s', async () => {
    const own = generateIdentity().identity.recipient;
    const shared = generateIdentity().identity.recipient;
    const set = await runCli(['settings', deployment.id, '--compression', 'gzip', '--age-recipients', own.text]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/compression\s+gzip/);
    expect(set.stdout).toContain(`the deployment's recipients: ${own.fingerprint}`);
    expect((await stored()).backupAgeRecipients).toBe(own.text);

    const inherit = await runCli([
      'settings',
      deployment.id,
      '--age-recipients',
      'inherit',
      '--workspace-age-recipients',
      shared.text,
    ]);
    expect(inherit.code).toBe(0);
    expect(inherit.stdout).toContain(`the workspace's recipients: ${shared.fingerprint}`);
    const after = await stored();
    expect(after.backupAgeRecipients).toBeNull();
    expect(after.workspace.backupAgeRecipients).toBe(shared.text);

    const off = await runCli(['settings', deployment.id, '--workspace-age-recipients', 'none']);
    expect(off.stdout).toMatch(/encryption\s+off/);
  });

  it('sets a dead-man URL and shows only its origin; a bad one is refused without being echoed', async () => {
    const url = `https://hc-ping.example.test/${SECRET_PATH}`;
    const set = await runCli(['settings', deployment.id, '--dead-man-url', url]);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('https://hc-ping.example.test/…');
    expect(set.output + set.stdout).not.toContain(SECRET_PATH);
    expect((await stored()).deadManUrl).toBe(url);

    const bad = await runCli([
      'settings',
      deployment.id,
      '--dead-man-url',
      `ftp://hc-ping.example.test/${SECRET_PATH}x`,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('dead-man URL');
    expect(bad.output).not.toContain(SECRET_PATH);
    expect((await stored()).deadManUrl).toBe(url);

    const cleared = await runCli(['settings', deployment.id, '--dead-man-url', 'none']);
    expect(cleared.stdout).toMatch(/dead-man\s+off/);
    expect((await stored()).deadManUrl).toBeNull();
  });

  it('says so for an unknown deployment and refuses an unknown compression', async () => {
    const missing = await runCli(['settings', 'ckmissing000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('no deployment');
    const bad = await runCli(['settings', deployment.id, '--compression', 'lz4']);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('--compression must be gzip, zstd or none');
  });
});
