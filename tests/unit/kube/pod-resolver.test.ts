import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildExportCommand } from '../../../src/lib/backups/data-export.ts';
import { defaultPodSelector } from '../../../src/lib/kube/pod-resolver.ts';
import { exitCodeOf } from '../../../src/lib/kube/exec-channels.ts';
import { ContainerNotReadyError, PodNotFoundError } from '../../../src/lib/kube/exec-errors.ts';
import { choosePod, collectSecretValues } from '../../../src/lib/kube/pod-resolver.ts';
import { createStderrTail } from '../../../src/lib/shared/stderr-tail.ts';
import { findRecipe } from '../../../src/lib/recipes/registry.ts';
import { REDACTED, redactSecrets } from '../../../src/lib/shared/redact.ts';

// Which pod a backup execs into, and the other pure pieces of a data export.

const QUERY = { namespace: 'apps', podSelector: 'app.kubernetes.io/instance=db', container: 'postgres' };
const DELETED_AT = new Date('2026-03-01T02:59:00Z');

interface PodShape {
  phase?: string;
  containers?: Array<{ name: string; ready?: boolean; env?: Record<string, string>; waiting?: string }>;
  terminating?: boolean;
}

/** A V1Pod as the API returns it, from the few fields that matter here. */
function pod(name: string, shape: PodShape = {}): V1Pod {
  const containers = shape.containers ?? [{ name: 'postgres', ready: true }];
  return {
    metadata: { name, namespace: QUERY.namespace, ...(shape.terminating && { deletionTimestamp: DELETED_AT }) },
    spec: {
      containers: containers.map((container) => ({
        name: container.name,
        env: Object.entries(container.env ?? {}).map(([envName, value]) => ({ name: envName, value })),
      })),
    },
    status: {
      phase: shape.phase ?? 'Running',
      containerStatuses: containers.map((container) => ({
        name: container.name,
        ready: container.ready ?? true,
        restartCount: 0,
        image: 'postgres:16',
        imageID: '',
        state: container.waiting ? { waiting: { reason: container.waiting } } : { running: {} },
      })),
    },
  };
}

describe('choosePod', () => {
  it.each<[string, V1Pod[], string]>([
    ['the only Running pod', [pod('db-0')], 'db-0'],
    ['a Running pod over a Pending one', [pod('db-0', { phase: 'Pending' }), pod('db-1')], 'db-1'],
    [
      'a ready container over a not ready one',
      [pod('db-0', { containers: [{ name: 'postgres', ready: false }] }), pod('db-1')],
      'db-1',
    ],
    ['the first by name among equals, whatever the list order', [pod('db-2'), pod('db-10'), pod('db-1')], 'db-1'],
    [
      'a pod that has the container over one that lacks it',
      [pod('db-0', { containers: [{ name: 'app' }] }), pod('db-1')],
      'db-1',
    ],
    ['a pod that is not being deleted', [pod('db-0', { terminating: true }), pod('db-1')], 'db-1'],
    [
      'a terminating pod when it is the only ready one',
      [pod('db-0', { terminating: true }), pod('db-1', { containers: [{ name: 'postgres', ready: false }] })],
      'db-0',
    ],
  ])('chooses %s', (_case, pods, expected) => {
    expect(choosePod(pods, QUERY).metadata?.name).toBe(expected);
  });

  it('reports no matching pod as PodNotFound, naming namespace and selector', () => {
    const failure = catchFailure(() => choosePod([], QUERY));

    expect(failure).toBeInstanceOf(PodNotFoundError);
    expect(failure).toMatchObject({
      kind: 'PodNotFound',
      namespace: 'apps',
      pod: null,
      podSelector: QUERY.podSelector,
    });
    expect(failure.message).toBe('no pod in namespace "apps" matches selector "app.kubernetes.io/instance=db"');
  });

  it('reports pods that are not Running as PodNotFound, with their phases', () => {
    const failure = catchFailure(() =>
      choosePod([pod('db-1', { phase: 'Failed' }), pod('db-0', { phase: 'Pending' })], QUERY),
    );

    expect(failure).toBeInstanceOf(PodNotFoundError);
    expect(failure.message).toContain('no Running pod in namespace "apps"');
    expect(failure.message).toContain('(found db-0: Pending, db-1: Failed)');
  });

  it('reports a missing container as ContainerNotReady and lists the containers the pod has', () => {
    const failure = catchFailure(() =>
      choosePod([pod('db-0', { containers: [{ name: 'app' }, { name: 'metrics' }] })], QUERY),
    );

    expect(failure).toBeInstanceOf(ContainerNotReadyError);
    expect(failure).toMatchObject({
      kind: 'ContainerNotReady',
      pod: 'db-0',
      container: 'postgres',
      availableContainers: ['app', 'metrics'],
    });
    expect(failure.message).toBe(
      'pod "db-0" in namespace "apps" has no container "postgres" (containers: app, metrics)',
    );
  });

  it('reports a container that is not ready as ContainerNotReady, with its state', () => {
    const pods = [
      pod('db-1', { containers: [{ name: 'postgres', ready: false }] }),
      pod('db-0', { containers: [{ name: 'postgres', ready: false, waiting: 'CrashLoopBackOff' }] }),
    ];

    const failure = catchFailure(() => choosePod(pods, QUERY));

    expect(failure).toBeInstanceOf(ContainerNotReadyError);
    expect(failure).toMatchObject({ pod: 'db-0', availableContainers: ['postgres'] });
    expect(failure.message).toBe(
      'container "postgres" of pod "db-0" in namespace "apps" is not ready (waiting: CrashLoopBackOff)',
    );
  });
});

describe('collectSecretValues', () => {
  it("takes the literal values of the target container's secret-looking variables only", () => {
    const target = pod('db-0', {
      containers: [
        {
          name: 'postgres',
          env: {
            POSTGRES_USER: 'app',
            POSTGRES_PASSWORD: 'hunter2-long',
            PGPASSWORD: 'hunter2-long',
            API_TOKEN: 'tok-123456',
          },
        },
        { name: 'sidecar', env: { SIDECAR_PASSWORD: 'other-secret' } },
      ],
    });

    expect(collectSecretValues(target, 'postgres')).toEqual(['hunter2-long', 'tok-123456']);
    expect(collectSecretValues(target, 'missing')).toEqual([]);
  });
});

describe('export command', () => {
  it('selects pods by the standard instance label by default', () => {
    expect(defaultPodSelector('shop-db')).toBe('app.kubernetes.io/instance=shop-db');
  });

  it("is a copy of the recipe's constant argv", () => {
    const dataExport = findRecipe('postgresql')!.dataExport!;

    const command = buildExportCommand(dataExport);

    expect(command).toEqual(dataExport.command);
    expect(command).not.toBe(dataExport.command);
    expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  });
});

describe('exitCodeOf', () => {
  it.each([
    [{ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } }, 2],
    [
      {
        status: 'Failure',
        reason: 'InternalError',
        details: { causes: [{ message: 'exec: "pg_dump": executable file not found' }] },
      },
      null,
    ],
    [{ status: 'Success' }, null],
  ])('reads %j as %s', (status, expected) => {
    expect(exitCodeOf(status)).toBe(expected);
  });
});

describe('stderr tail', () => {
  const redact = (text: string) => redactSecrets(text, ['hunter2-long']);

  it('keeps the last lines, redacted', () => {
    const tail = createStderrTail({ maxLines: 2, maxChars: 1000 });
    tail.push(Buffer.from('one\ntwo\nthree: auth failed for hunter2-long\n'));

    expect(tail.read(redact)).toBe(`two\nthree: auth failed for ${REDACTED}`);
  });

  it('stays bounded to its last lines and characters', () => {
    const tail = createStderrTail({ maxLines: 20, maxChars: 4096 });
    for (let line = 0; line < 2000; line += 1) tail.push(Buffer.from(`warning ${line}\n`));

    const text = tail.read(redact);

    expect(text.split('\n')).toHaveLength(20);
    expect(text.endsWith('warning 1999')).toBe(true);
    expect(createStderrTail({ maxLines: 20, maxChars: 100 }).read(redact)).toBe('');
  });

  it('drops the partial first line of its window, where the end of a cut secret could hide', () => {
    const tail = createStderrTail({ maxLines: 10_000, maxChars: 100_000 });
    tail.push(Buffer.from('auth failed: hunter2-long\n'));
    // 16 KiB window: this much filler moves its start into the middle of the secret ("r2-long").
    tail.push(Buffer.from(`${'w'.repeat(99)}\n`.repeat(163) + `${'w'.repeat(75)}\n`));

    const text = tail.read(redact);

    expect(text).not.toContain('2-long');
    expect(text.startsWith('w')).toBe(true);
  });
});

function catchFailure(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}
