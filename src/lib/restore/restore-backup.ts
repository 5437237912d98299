import { randomUUID } from 'node:crypto';
import type {
  BackupRecord,
  BackupTrigger,
  Deployment,
  Prisma,
  PrismaClient,
  RestoreRecord,
  Workspace,
} from '../../generated/prisma/client.ts';
import { assertBackupFileMatches, runDataImport, type DataImportResult, type ImportSource } from './data-import.ts';
import { AgeDecryptError } from '../encryption/index.ts';
import type { KubeClients } from '../kube/index.ts';
import {
  backupFileReferenceOf,
  encodingOfExtension,
  findIdentityFor,
  IdentityRequiredError,
  locateBackupFile,
} from '../storage/index.ts';
import type { Logger, WorkObserver } from '../shared/index.ts';
import {
  type Notifier,
  changeWithAlert,
  raiseAndNotify,
  resolveAlerts,
  RESTORE_FAILED_ALERT,
  RESTORE_STALLED_ALERT,
  RESTORE_PROPOSED_ALERT,
} from '../alerts/index.ts';
import { claimDeployment, releaseClaim, renewClaim } from '../backups/index.ts';
import { type DataExport, type DataImport, findRecipe, type Recipe } from '../recipes/index.ts';
import { CONFIRM_TOKEN_TTL_MS, confirmTokenMatches, generateConfirmToken } from './confirm-token.ts';
import { parseCountLines, type DataCounts } from './count-lines.ts';
import { RestoreRefusedError } from './restore-errors.ts';
import { summarizeRestoreFailure } from './restore-failure.ts';
import { describeLivePlan } from './restore-plan.ts';
import { holdRestore, leaseUntil, type RestoreClaim } from './restore-lease.ts';
import { buildStepCommand, newScratchTargetName } from './restore-target.ts';

export { RestoreRefusedError, type RestoreRefusalCode } from './restore-errors.ts';
import type { RestoreDependencies } from './restore-dependencies.ts';

export type { RestoreDependencies } from './restore-dependencies.ts';

export type RestoreRequest =
  /** Into a new scratch database next to the live one: non-destructive, needs no confirmation. */
  | {
      mode: 'scratch';
      kind?: 'SCRATCH' | 'TEST';
      requestedBy: string;
      trigger: BackupTrigger;
      /** Keep the scratch database after counting (it is dropped by default, and always after a failure). */
      keepScratch?: boolean;
      signal?: AbortSignal;
      /** The queued job this restore runs for; recorded on the RestoreRecord. */
      jobId?: string;
    }
  /** Over the live data: the PROPOSED record of a dry-run and the token it issued. */
  | {
      mode: 'live';
      restoreId: string;
      confirmToken: string;
      confirmedBy: string;
      signal?: AbortSignal;
      /** Called once the token was accepted and the record is RUNNING (an API answers 202 while the restore goes on). */
      onStarted?: (record: RestoreRecord) => void;
    };

/** What a dry-run returns: the PROPOSED record, its plan, and the token, which is shown once and stored only hashed. */
export interface LiveRestorePlan {
  restore: RestoreRecord;
  confirmToken: string;
  plan: string;
  expiresAt: Date;
}

type BackupWithDeployment = BackupRecord & { deployment: Deployment & { workspace: Workspace } };

/** A backup that may be restored, with what restoring it takes. */
export interface Restorable {
  backup: BackupWithDeployment;
  deployment: Deployment & { workspace: Workspace };
  recipe: Recipe;
  dataImport: DataImport;
  source: ImportSource;
}

/**
 * Restores a backup, as the request says. A scratch restore creates a new database next to the live one, streams
 * the file into it, records its table/row (or key) counts and drops it (unless `keepScratch`). A live restore needs
 * the PROPOSED record and the token of a dry-run (`planLiveRestore` / `approveRestore`): the token must match, be
 * unexpired and unused; the deployment is claimed so no backup runs meanwhile.
 *
 * Refusals (deployment not RUNNING, backup not SUCCEEDED or its file gone, no import for the recipe, token wrong,
 * expired or used, a backup running) throw `RestoreRefusedError` before anything is sent. Once started, the record
 * ends SUCCEEDED or FAILED (with errorKind, error and stderrTail) and is returned; a failure raises a `restore_failed`
 * alert. A file that does not match its sha256 fails before a byte is sent.
 */
export async function restoreBackup(
  deps: RestoreDependencies,
  backupId: string,
  request: RestoreRequest,
): Promise<RestoreRecord> {
  try {
    const record =
      request.mode === 'scratch'
        ? await restoreIntoScratch(deps, backupId, request)
        : await restoreOverLive(deps, backupId, request);
    if (record.status === 'SUCCEEDED' || record.status === 'FAILED')
      deps.observer?.restoreFinished({ kind: record.kind, status: record.status });
    return record;
  } catch (error) {
    if (error instanceof RestoreRefusedError) {
      const kind = request.mode === 'live' ? 'DESTRUCTIVE' : (request.kind ?? 'SCRATCH');
      deps.observer?.restoreFinished({ kind, status: 'REFUSED' });
    }
    throw error;
  }
}

async function restoreIntoScratch(
  deps: RestoreDependencies,
  backupId: string,
  request: Extract<RestoreRequest, { mode: 'scratch' }>,
): Promise<RestoreRecord> {
  const restorable = await loadRestorable(deps, backupId);
  const { backup, deployment, dataImport } = restorable;
  const scratch = dataImport.scratch;
  if (!scratch) {
    throw new RestoreRefusedError(
      'SCRATCH_UNSUPPORTED',
      `${restorable.recipe.name} backups cannot be restored into a scratch database; only over the live data`,
    );
  }
  const target = newScratchTargetName();
  const startedAt = deps.clock();
  const record = await deps.db.restoreRecord.create({
    data: {
      ...snapshotOf(backup),
      kind: request.kind ?? 'SCRATCH',
      status: 'RUNNING',
      trigger: request.trigger,
      target,
      requestedBy: request.requestedBy,
      startedAt,
      leaseExpiresAt: leaseUntil(deps, startedAt),
      jobId: request.jobId ?? null,
    },
  });
  const log = deps.logger.child({
    module: 'restore',
    restoreId: record.id,
    deploymentId: deployment.id,
    backupId,
    kind: record.kind,
  });
  log.info({ target }, 'scratch restore started');
  const hold = holdRestore(deps, record, null, log);
  let created = false;
  let succeeded = false;
  let bytesRestored: number | null = null;
  try {
    // Checked before the scratch database is even created: a file that is not the recorded backup changes nothing.
    await assertBackupFileMatches(restorable.source);
    if (scratch.create) await runStep(deps, restorable, scratch.create, { target, signal: request.signal });
    created = true;
    const source = { ...restorable.source, verified: true };
    const imported = await runStep(deps, restorable, scratch.import, {
      target,
      signal: request.signal,
      source,
      onProgress: hold.onProgress,
    });
    bytesRestored = imported.bytesSent;
    const countOutput = scratch.printsCounts
      ? imported.stdout
      : (await runStep(deps, restorable, dataImport.count, { target, signal: request.signal })).stdout;
    const counted = parseCountLines(countOutput, dataImport.counts);
    const finished = await finishSucceeded(deps, record, { bytesRestored, counts: counted.counts });
    succeeded = true;
    log.info({ target, bytesRestored, counts: counted.counts }, 'scratch restore succeeded');
    return finished;
  } catch (error) {
    return await finishFailed(deps, record, restorable, error, bytesRestored, log);
  } finally {
    await hold.release();
    if (created && scratch.drop && !(succeeded && request.keepScratch)) {
      await runStep(deps, restorable, scratch.drop, { target }).then(
        () => log.info({ target }, 'scratch database dropped'),
        (error: unknown) =>
          log.error({ target, err: error }, `could not drop the scratch database "${target}"; drop it by hand`),
      );
    }
  }
}

/**
 * The PROPOSED live restore `restoreId` (of `backupId`, when given) if `token` confirms it now, by `confirmedBy`.
 * Refusals throw `RestoreRefusedError`: unknown restore, not PROPOSED, not approved yet, wrong token, or (when the
 * workspace requires a second principal) confirmed by whoever holds the token from planning or approving it; an
 * expired token also cancels the proposal.
 */
export async function checkConfirmation(
  deps: RestoreDependencies,
  restoreId: string,
  token: string,
  now: Date,
  confirmedBy: string,
  backupId?: string,
): Promise<RestoreRecord & { backupRecordId: string }> {
  const proposal = await deps.db.restoreRecord.findUnique({ where: { id: restoreId } });
  if (
    !proposal ||
    proposal.kind !== 'DESTRUCTIVE' ||
    !proposal.backupRecordId ||
    (backupId !== undefined && proposal.backupRecordId !== backupId)
  ) {
    throw new RestoreRefusedError(
      'NOT_FOUND',
      backupId === undefined
        ? `no proposed live restore "${restoreId}"`
        : `no proposed live restore "${restoreId}" of backup "${backupId}"`,
    );
  }
  assertConfirmable(proposal, now);
  if (!confirmTokenMatches(token, proposal.confirmTokenHash)) {
    throw new RestoreRefusedError('TOKEN_INVALID', `the confirmation token of restore ${proposal.id} is wrong`);
  }
  const planner = proposal.approvedBy ?? proposal.requestedBy;
  const workspace = await deps.db.workspace.findUniqueOrThrow({ where: { id: proposal.workspaceId } });
  if (workspace.restoreNeedsSecondPrincipal && confirmedBy === planner) {
    throw new RestoreRefusedError(
      'SAME_PRINCIPAL',
      `restore ${proposal.id} was planned by ${planner}: this workspace requires another principal to confirm it`,
    );
  }
  if (!proposal.confirmExpiresAt || proposal.confirmExpiresAt.getTime() <= now.getTime()) {
    await deps.db.restoreRecord.updateMany({
      where: { id: proposal.id, status: 'PROPOSED' },
      data: {
        status: 'CANCELLED',
        finishedAt: now,
        errorKind: 'Expired',
        error: 'the confirmation token expired before it was used',
      },
    });
    throw new RestoreRefusedError(
      'TOKEN_EXPIRED',
      `the confirmation token of restore ${proposal.id} expired at ${proposal.confirmExpiresAt?.toISOString()}; plan again`,
    );
  }
  return { ...proposal, backupRecordId: proposal.backupRecordId };
}

async function restoreOverLive(
  deps: RestoreDependencies,
  backupId: string,
  request: Extract<RestoreRequest, { mode: 'live' }>,
): Promise<RestoreRecord> {
  const now = deps.clock();
  const proposal = await checkConfirmation(
    deps,
    request.restoreId,
    request.confirmToken,
    now,
    request.confirmedBy,
    backupId,
  );
  const restorable = await loadRestorable(deps, backupId);
  const { deployment } = restorable;
  const claim = { deploymentId: deployment.id, token: `restore-${randomUUID()}`, ttlMs: deps.settings.claimTtlMs };

  // The claim and the token's single use commit together: a refused claim leaves the proposal usable.
  const record = await deps.db.$transaction(async (tx) => {
    if (!(await claimDeployment(tx, { ...claim, now }))) {
      throw new RestoreRefusedError(
        'BUSY',
        `a backup or another restore of ${deployment.name} is running; confirm again when it has finished`,
      );
    }
    const { count } = await tx.restoreRecord.updateMany({
      where: {
        id: proposal.id,
        status: 'PROPOSED',
        confirmTokenHash: proposal.confirmTokenHash,
        confirmExpiresAt: { gt: now },
      },
      data: {
        status: 'RUNNING',
        confirmedBy: request.confirmedBy,
        startedAt: now,
        leaseExpiresAt: leaseUntil(deps, now),
      },
    });
    if (count !== 1)
      throw new RestoreRefusedError('NOT_PROPOSED', `restore ${proposal.id} was confirmed or cancelled meanwhile`);
    return tx.restoreRecord.findUniqueOrThrow({ where: { id: proposal.id } });
  });
  request.onStarted?.(record);
  return runLiveRestore(deps, { record, restorable, claim, ...(request.signal ? { signal: request.signal } : {}) });
}

/**
 * Runs a live restore whose record is RUNNING and whose deployment claim is held: streams the backup into the live
 * database, counts the result and records it (SUCCEEDED, or FAILED with a `restore_failed` alert), then releases
 * the claim. Never throws for a failed restore: the record says how it ended.
 */
export async function runLiveRestore(
  deps: RestoreDependencies,
  run: { record: RestoreRecord; restorable: Restorable; claim: RestoreClaim; signal?: AbortSignal },
): Promise<RestoreRecord> {
  const { record, restorable, claim } = run;
  const { deployment } = restorable;
  const log = deps.logger.child({
    module: 'restore',
    restoreId: record.id,
    deploymentId: deployment.id,
    backupId: restorable.backup.id,
    kind: record.kind,
  });
  log.warn({ target: record.target, confirmedBy: record.confirmedBy }, 'live restore started');
  await resolveAlerts(deps.db, deployment.id, [RESTORE_PROPOSED_ALERT], deps.clock()).catch(() => 0);

  const hold = holdRestore(deps, record, claim, log);
  const signal = run.signal ? AbortSignal.any([run.signal, hold.signal]) : hold.signal;
  let bytesRestored: number | null = null;
  try {
    const imported = await runStep(deps, restorable, restorable.dataImport.live, {
      signal,
      source: restorable.source,
      onProgress: hold.onProgress,
    });
    bytesRestored = imported.bytesSent;
    const counts = await countLive(deps, restorable).catch((error: unknown) => {
      log.warn({ err: error }, 'the live restore succeeded but the restored data could not be counted');
      return null;
    });
    const finished = await finishSucceeded(deps, record, { bytesRestored, counts: counts?.counts ?? null });
    await resolveAlerts(deps.db, deployment.id, [RESTORE_FAILED_ALERT, RESTORE_STALLED_ALERT], deps.clock());
    log.warn({ target: record.target, bytesRestored }, 'live restore succeeded');
    return finished;
  } catch (error) {
    return await finishFailed(deps, record, restorable, error, bytesRestored, log);
  } finally {
    await hold.release();
  }
}

/**
 * The dry-run of a destructive restore: counts what the live database holds now, and records a PROPOSED restore whose
 * `plan` says what will be overwritten with what. The confirmation token is returned once and stored hashed; it
 * expires after `CONFIRM_TOKEN_TTL_MS` and works once. Throws `RestoreRefusedError` when the backup cannot be restored
 * or the live database cannot be read (a plan that cannot say what it overwrites is no plan).
 */
export async function planLiveRestore(
  deps: RestoreDependencies,
  backupId: string,
  options: { requestedBy: string; trigger: BackupTrigger; now: Date },
): Promise<LiveRestorePlan> {
  const confirmation = newConfirmation(options.now);
  const { restore, plan } = await recordLivePlan(deps, backupId, options, confirmation);
  return { restore, confirmToken: confirmation.token, plan, expiresAt: confirmation.expiresAt };
}

/**
 * The dry-run with a confirmation made by the caller (only the token's hash comes here): a web process keeps the
 * token and asks a worker, which can reach the pod, to count the live data and record the PROPOSED restore.
 */
export async function recordLivePlan(
  deps: RestoreDependencies,
  backupId: string,
  options: { requestedBy: string; trigger: BackupTrigger; now: Date },
  confirmation: { tokenHash: string; expiresAt: Date },
): Promise<{ restore: RestoreRecord; plan: string }> {
  const restorable = await loadRestorable(deps, backupId);
  const described = await describeLive(deps, restorable, confirmation.expiresAt);
  const restore = await createProposal(deps, restorable, options, described, confirmation);
  deps.logger
    .child({ module: 'restore' })
    .info({ restoreId: restore.id, backupId, requestedBy: options.requestedBy }, 'live restore planned');
  return { restore, plan: described.plan };
}

/** A fresh confirmation token and when it expires: the token is shown once, only its hash is stored. */
export function newConfirmation(now: Date): { token: string; tokenHash: string; expiresAt: Date } {
  return { ...generateConfirmToken(), expiresAt: new Date(now.getTime() + CONFIRM_TOKEN_TTL_MS) };
}

/**
 * Records a PROPOSED live restore of the backup with its plan, and the token's hash when one was issued. One open plan
 * per backup: the backup's earlier PROPOSED restores are cancelled in the same transaction (their tokens stop
 * working), under a lock on the backup's row, so concurrent plans leave exactly one PROPOSED record.
 */
async function createProposal(
  deps: RestoreDependencies,
  restorable: Restorable,
  options: { requestedBy: string; trigger: BackupTrigger; now: Date },
  described: { plan: string; target: string },
  confirmation: { tokenHash: string; expiresAt: Date } | null,
): Promise<RestoreRecord> {
  const backupId = restorable.backup.id;
  const { record, replaced } = await deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM "BackupRecord" WHERE id = ${backupId} FOR UPDATE`;
    const { count } = await tx.restoreRecord.updateMany({
      where: { backupRecordId: backupId, status: 'PROPOSED', kind: 'DESTRUCTIVE' },
      data: {
        status: 'CANCELLED',
        finishedAt: options.now,
        error: `replaced by a newer plan of ${options.requestedBy}`,
      },
    });
    const created = await tx.restoreRecord.create({
      data: {
        ...snapshotOf(restorable.backup),
        kind: 'DESTRUCTIVE',
        status: 'PROPOSED',
        trigger: options.trigger,
        target: described.target,
        requestedBy: options.requestedBy,
        plan: described.plan,
        ...(confirmation ? { confirmTokenHash: confirmation.tokenHash, confirmExpiresAt: confirmation.expiresAt } : {}),
        createdAt: options.now,
      },
    });
    return { record: created, replaced: count };
  });
  if (replaced > 0) {
    deps.logger
      .child({ module: 'restore' })
      .info({ restoreId: record.id, backupId, replaced }, 'earlier open plans of this backup cancelled');
  }
  return record;
}

/**
 * What an agent may do: record a PROPOSED live restore with its plan and *no* token. Nothing can confirm it until a
 * person approves it (`approveRestore`, from the CLI or the API), which re-plans and issues the token to that person.
 * The proposal is logged and raised as an INFO alert (so the notifier, if any, tells a person).
 */
export async function proposeLiveRestore(
  deps: RestoreDependencies,
  backupId: string,
  options: { requestedBy: string; trigger: BackupTrigger; now: Date },
): Promise<{ restore: RestoreRecord; plan: string }> {
  const restorable = await loadRestorable(deps, backupId);
  const { plan, target } = await describeLive(deps, restorable, null);
  const restore = await createProposal(deps, restorable, options, { plan, target }, null);
  const { deployment } = restorable;
  const message =
    `Restore proposed by ${options.requestedBy}: backup ${backupId} over the live data of ${deployment.workspace.slug}/${deployment.name}. ` +
    `A person must approve it (npm run restore -- approve ${restore.id}, or POST /api/restores/${restore.id}/approve), ` +
    `then confirm with npm run restore -- confirm ${restore.id} --token <token>.`;
  deps.logger
    .child({ module: 'restore' })
    .warn(
      { restoreId: restore.id, backupId },
      `restore proposed; approve with npm run restore -- approve ${restore.id}, then confirm with npm run restore -- confirm ${restore.id} --token <token>`,
    );
  await raiseAndNotify(
    deps.db,
    deps.notifier,
    {
      workspaceId: deployment.workspaceId,
      deploymentId: deployment.id,
      deploymentName: deployment.name,
      backupRecordId: backupId,
      severity: 'INFO',
      kind: RESTORE_PROPOSED_ALERT,
      message,
    },
    options.now,
  );
  return { restore, plan };
}

/**
 * A person approves a PROPOSED live restore (the agent's, or their own whose token expired): the live database is
 * counted again, the plan rewritten, and a new token issued (the old one stops working). Throws `RestoreRefusedError`.
 */
export async function approveRestore(
  deps: RestoreDependencies,
  restoreId: string,
  options: { approvedBy: string; now: Date },
): Promise<LiveRestorePlan> {
  const confirmation = newConfirmation(options.now);
  const { restore, plan } = await recordApproval(deps, restoreId, options, confirmation);
  return { restore, confirmToken: confirmation.token, plan, expiresAt: confirmation.expiresAt };
}

/** The approval with a confirmation made by the caller (see `recordLivePlan`). */
export async function recordApproval(
  deps: RestoreDependencies,
  restoreId: string,
  options: { approvedBy: string; now: Date },
  confirmation: { tokenHash: string; expiresAt: Date },
): Promise<{ restore: RestoreRecord; plan: string }> {
  const proposal = await deps.db.restoreRecord.findUnique({ where: { id: restoreId } });
  if (!proposal || proposal.kind !== 'DESTRUCTIVE' || !proposal.backupRecordId) {
    throw new RestoreRefusedError('NOT_FOUND', `no proposed live restore "${restoreId}"`);
  }
  if (proposal.status !== 'PROPOSED')
    throw new RestoreRefusedError('NOT_PROPOSED', `restore ${proposal.id} is ${proposal.status}, not PROPOSED`);
  const restorable = await loadRestorable(deps, proposal.backupRecordId);
  const { tokenHash, expiresAt } = confirmation;
  const { plan, target } = await describeLive(deps, restorable, expiresAt);
  const { count } = await deps.db.restoreRecord.updateMany({
    where: { id: proposal.id, status: 'PROPOSED' },
    data: { plan, target, confirmTokenHash: tokenHash, confirmExpiresAt: expiresAt, approvedBy: options.approvedBy },
  });
  if (count !== 1)
    throw new RestoreRefusedError('NOT_PROPOSED', `restore ${proposal.id} was confirmed or cancelled meanwhile`);
  deps.logger
    .child({ module: 'restore' })
    .info({ restoreId, approvedBy: options.approvedBy }, 'live restore approved; confirmation token issued');
  return { restore: await deps.db.restoreRecord.findUniqueOrThrow({ where: { id: proposal.id } }), plan };
}

/** Cancels a PROPOSED restore (its token stops working). Throws `RestoreRefusedError` for anything else. */
export async function cancelRestore(
  deps: RestoreDependencies,
  restoreId: string,
  options: { cancelledBy: string; now: Date },
): Promise<RestoreRecord> {
  const { count } = await deps.db.restoreRecord.updateMany({
    where: { id: restoreId, status: 'PROPOSED' },
    data: { status: 'CANCELLED', finishedAt: options.now, error: `cancelled by ${options.cancelledBy}` },
  });
  const record = await deps.db.restoreRecord.findUnique({ where: { id: restoreId } });
  if (!record) throw new RestoreRefusedError('NOT_FOUND', `no restore "${restoreId}"`);
  if (count !== 1)
    throw new RestoreRefusedError('NOT_PROPOSED', `restore ${restoreId} is ${record.status}, not PROPOSED`);
  const open = await deps.db.restoreRecord.count({
    where: { deploymentId: record.deploymentId, status: 'PROPOSED', kind: 'DESTRUCTIVE' },
  });
  if (open === 0) await resolveAlerts(deps.db, record.deploymentId, [RESTORE_PROPOSED_ALERT], options.now);
  return record;
}

/** The restores of a deployment, newest first. */
export function listRestores(db: PrismaClient, deploymentId: string, limit = 20): Promise<RestoreRecord[]> {
  return db.restoreRecord.findMany({ where: { deploymentId }, orderBy: { createdAt: 'desc' }, take: limit });
}

// ---------------------------------------------------------------------------------------------------------------------

function assertConfirmable(proposal: RestoreRecord, now: Date): void {
  if (proposal.status !== 'PROPOSED') {
    throw new RestoreRefusedError(
      'NOT_PROPOSED',
      `restore ${proposal.id} is ${proposal.status}: a confirmation token works once, for a PROPOSED restore`,
    );
  }
  if (!proposal.confirmTokenHash) {
    throw new RestoreRefusedError(
      'NOT_APPROVED',
      `restore ${proposal.id} was proposed by ${proposal.requestedBy} and has no token yet: a person must approve it first (${now.toISOString()})`,
    );
  }
}

/** Loads the backup and checks it may be restored now; throws `RestoreRefusedError` naming what is wrong. */
export async function loadRestorable(deps: RestoreDependencies, backupId: string): Promise<Restorable> {
  const backup = await deps.db.backupRecord.findUnique({
    where: { id: backupId },
    include: { deployment: { include: { workspace: true } } },
  });
  if (!backup) throw new RestoreRefusedError('NOT_FOUND', `no backup "${backupId}"`);
  const { deployment } = backup;
  if (deployment.status !== 'RUNNING') {
    throw new RestoreRefusedError(
      'DEPLOYMENT_NOT_RUNNING',
      `deployment ${deployment.name} is ${deployment.status}; restores need a RUNNING deployment`,
    );
  }
  if (backup.status !== 'SUCCEEDED' || !backup.path || !backup.sha256) {
    throw new RestoreRefusedError(
      'BACKUP_NOT_RESTORABLE',
      `backup ${backup.id} is ${backup.status}: only a SUCCEEDED backup with a file can be restored`,
    );
  }
  const location = await locateBackupFile(deps.store.root, backupFileReferenceOf(backup));
  if (!location.ok) {
    const problem =
      location.reason === 'missing'
        ? `${location.detail}${await describeOffsiteCopy(deps.db, backup.id)}`
        : `is refused: ${location.detail}`;
    throw new RestoreRefusedError('BACKUP_NOT_RESTORABLE', `backup ${backup.id}'s file ${problem}`);
  }
  const filePath = location.path;
  const recipe = findRecipe(deployment.recipeSlug);
  const dataImport = recipe?.dataImport;
  const dataExport: DataExport | undefined = recipe?.dataExport;
  if (!recipe || !dataImport || !dataExport) {
    throw new RestoreRefusedError(
      'NO_IMPORT',
      `recipe "${deployment.recipeSlug}" of ${deployment.name} has no restore (dataImport)`,
    );
  }
  if (backup.format && backup.format !== dataImport.format) {
    throw new RestoreRefusedError(
      'NO_IMPORT',
      `backup ${backup.id} has format ${backup.format}; recipe "${recipe.slug}" restores ${dataImport.format}`,
    );
  }
  // The store compresses exports that are not compressed already (`.sql` → `.sql.zst`), and encrypts them when the
  // deployment has recipients (`.sql.zst.age`); both are undone while streaming. An export that compressed itself
  // (`.dump`) is sent as it came.
  const stored = encodingOfExtension(backup.extension ?? '');
  const encoding = { ...stored, compression: dataExport.compressed ? ('none' as const) : stored.compression };
  if (encoding.encrypted) await assertIdentityOpens(deps, backup.id, filePath, backup.encryptedTo);
  const source: ImportSource = {
    path: filePath,
    sha256: backup.sha256,
    encoding,
    ...(encoding.encrypted ? { identities: deps.identities } : {}),
  };
  return { backup, deployment, recipe, dataImport, source };
}

/**
 * An encrypted backup is restored only when one of this process's identities opens it: refused before anything is
 * sent, naming the recipients it was encrypted to (fingerprints) so a person knows which key to bring.
 */
async function assertIdentityOpens(
  deps: RestoreDependencies,
  backupId: string,
  filePath: string,
  encryptedTo: string | null,
): Promise<void> {
  const recipients = encryptedTo ? ` (encrypted to ${encryptedTo.split(',').join(', ')})` : '';
  try {
    await findIdentityFor(filePath, deps.identities);
  } catch (error) {
    if (error instanceof IdentityRequiredError)
      throw new RestoreRefusedError(
        'NO_IDENTITY',
        `backup ${backupId} is encrypted${recipients} and this process has no age identity: set BACKUP_AGE_IDENTITY_FILE to a file holding the identity of one of its recipients`,
      );
    if (error instanceof AgeDecryptError && error.failure === 'no-match') {
      const have = (deps.identities ?? []).map((identity) => identity.recipient.fingerprint).join(', ');
      throw new RestoreRefusedError(
        'NO_IDENTITY',
        `backup ${backupId} is encrypted${recipients}; none of the ${deps.identities?.length ?? 0} age identities in BACKUP_AGE_IDENTITY_FILE (${have}) opens it`,
      );
    }
    if (error instanceof AgeDecryptError)
      throw new RestoreRefusedError('BACKUP_NOT_RESTORABLE', `backup ${backupId}'s file ${filePath}: ${error.message}`);
    throw error;
  }
}

/** For the refusal of a backup whose file is gone: whether an uploaded off-site copy can bring it back, and how. */
async function describeOffsiteCopy(db: PrismaClient, backupId: string): Promise<string> {
  const copy = await db.backupUpload.findFirst({
    where: { backupRecordId: backupId, status: 'UPLOADED' },
    orderBy: { destination: 'asc' },
  });
  if (!copy) return '; it has no uploaded off-site copy to fetch';
  return `; an off-site copy is on ${copy.destination} (${copy.objectKey}): fetch it with \`npm run backup -- fetch ${backupId}\`, then restore again`;
}

/** The fields of a restore record that describe the backup (kept when the backup itself is pruned). */
function snapshotOf(
  backup: BackupWithDeployment,
): Pick<
  Prisma.RestoreRecordUncheckedCreateInput,
  'workspaceId' | 'deploymentId' | 'backupRecordId' | 'backupSha256' | 'backupStartedAt'
> {
  return {
    workspaceId: backup.workspaceId,
    deploymentId: backup.deploymentId,
    backupRecordId: backup.id,
    backupSha256: backup.sha256 ?? '',
    backupStartedAt: backup.startedAt,
  };
}

function runStep(
  deps: RestoreDependencies,
  restorable: Restorable,
  command: readonly string[],
  options: {
    target?: string;
    signal?: AbortSignal | undefined;
    source?: ImportSource;
    onProgress?: (bytesSent: number) => void;
  },
): Promise<DataImportResult> {
  const { deployment, dataImport } = restorable;
  return runDataImport(
    deps.kube,
    {
      workspaceId: deployment.workspaceId,
      namespace: deployment.namespace,
      podSelector: deployment.podSelector,
      deploymentName: deployment.name,
      container: dataImport.container,
      command: buildStepCommand(command, options.target),
      ...(options.source ? { source: options.source } : {}),
      timeoutMs: deps.settings.timeoutMs,
      ...(deps.settings.stallMs ? { stallMs: deps.settings.stallMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
    deps.logger,
  );
}

async function countLive(deps: RestoreDependencies, restorable: Restorable): Promise<DataCounts> {
  const counted = await runStep(deps, restorable, restorable.dataImport.count, {});
  return parseCountLines(counted.stdout, restorable.dataImport.counts);
}

/** Counts the live database and writes the plan; refuses when the live data cannot be read. */
async function describeLive(
  deps: RestoreDependencies,
  restorable: Restorable,
  expiresAt: Date | null,
): Promise<{ plan: string; target: string }> {
  let live: DataCounts;
  try {
    live = await countLive(deps, restorable);
  } catch (error) {
    const failure = summarizeRestoreFailure(error);
    throw new RestoreRefusedError(
      'LIVE_UNREADABLE',
      `cannot read the live database to plan the restore (${failure.kind}): ${failure.message}`,
    );
  }
  const { backup, deployment, recipe } = restorable;
  const plan = describeLivePlan({
    workspaceSlug: deployment.workspace.slug,
    deploymentName: deployment.name,
    namespace: deployment.namespace,
    recipeName: recipe.name,
    live,
    backup: {
      id: backup.id,
      startedAt: backup.startedAt,
      sizeBytes: backup.sizeBytes,
      sha256: backup.sha256 ?? '',
      format: backup.format,
    },
    expiresAt,
  });
  return { plan, target: live.database ?? 'live' };
}

async function finishSucceeded(
  deps: RestoreDependencies,
  record: RestoreRecord,
  result: { bytesRestored: number; counts: DataCounts['counts'] | null },
): Promise<RestoreRecord> {
  const finishedAt = deps.clock();
  return deps.db.restoreRecord.update({
    where: { id: record.id },
    data: {
      status: 'SUCCEEDED',
      finishedAt,
      durationMs: finishedAt.getTime() - (record.startedAt ?? finishedAt).getTime(),
      bytesRestored: BigInt(result.bytesRestored),
      ...(result.counts ? { counts: result.counts } : {}),
    },
  });
}

async function finishFailed(
  deps: RestoreDependencies,
  record: RestoreRecord,
  restorable: Restorable,
  error: unknown,
  bytesRestored: number | null,
  log: Logger,
): Promise<RestoreRecord> {
  const failure = summarizeRestoreFailure(error);
  const finishedAt = deps.clock();
  log.error({ kind: failure.kind, target: record.target }, `restore failed: ${failure.message}`);
  const { deployment, backup } = restorable;
  const what =
    record.kind === 'DESTRUCTIVE'
      ? `Live restore into "${record.target}"`
      : `${record.kind === 'TEST' ? 'Test' : 'Scratch'} restore`;
  const consequence =
    record.kind !== 'DESTRUCTIVE'
      ? 'The live data was not touched; this backup may not be restorable.'
      : backup.format === 'postgres-custom'
        ? 'pg_restore ran in one transaction: the live data should be unchanged; check it.'
        : 'The live data may be partly restored: check it and restore again.';
  // The FAILED record and its alert in one transaction. A scheduled test-restore is alerted by its pass
  // (`test_restore_failed`, which says what it means): one alert, not two, for one failure.
  const { result: failed } = await changeWithAlert(
    deps.db,
    deps.notifier,
    finishedAt,
    (tx) =>
      tx.restoreRecord.update({
        where: { id: record.id },
        data: {
          status: 'FAILED',
          finishedAt,
          durationMs: finishedAt.getTime() - (record.startedAt ?? finishedAt).getTime(),
          ...(bytesRestored === null ? {} : { bytesRestored: BigInt(bytesRestored) }),
          errorKind: failure.kind,
          error: failure.message,
          stderrTail: failure.stderrTail,
        },
      }),
    () =>
      record.kind === 'TEST'
        ? null
        : {
            workspaceId: deployment.workspaceId,
            deploymentId: deployment.id,
            deploymentName: deployment.name,
            backupRecordId: backup.id,
            severity: record.kind === 'SCRATCH' ? 'WARNING' : 'CRITICAL',
            kind: failure.kind === 'Stalled' ? RESTORE_STALLED_ALERT : RESTORE_FAILED_ALERT,
            message: `${what} of ${deployment.workspace.slug}/${deployment.name} from backup ${backup.id} failed (${failure.kind}): ${failure.message}. ${consequence}`,
          },
  );
  return failed;
}
