export {
  backupNotFound,
  deploymentNotFound,
  findBackupForPrincipal,
  findDeploymentForPrincipal,
  isCrossSiteSignIn,
  missingScope,
  type RequestHead,
  requireDeployment,
  requirePrincipal,
} from './api-auth.ts';
export { authenticate, authenticateToken, bearerToken, isMetricsRequestAuthorized, sessionToken } from './auth.ts';
export { API_SCOPES, type ApiScope, hasScope, isTokenUsable, type Principal, SCOPE_MEANINGS } from './principal.ts';
export {
  createSession,
  findSession,
  revokeSession,
  SESSION_ABSOLUTE_SECONDS,
  SESSION_IDLE_SECONDS,
} from './sessions.ts';
export { backupFileResponse } from './backup-download.ts';
export { answerDownloadRequest } from './download-endpoint.ts';
export { answerHistoryRequest } from './history-endpoint.ts';
export { directRoutesPublished, publishDirectRoutes, type ServeDirectRoute } from './direct-routes.ts';
export {
  type BackupHistoryItem,
  type BackupRecordJson,
  historyQuerySchema,
  listBackupHistory,
  loadBackupHistoryItem,
  toBackupRecordJson,
} from './backup-history.ts';
export { type DeploymentBackupSummary, loadDeploymentBackupSummary } from './deployment-page.ts';
export { describeSpan, formatDuration, formatInstant, formatRelative, shortSha256 } from './display.ts';
export { json, parseSearchParams, problem, quoteInput, toResponse } from './http.ts';
export { gatherMetricsSnapshot } from './metrics-snapshot.ts';
export { buildMetricsRegistry } from './metrics.ts';
export { describeOffsiteCopies } from './offsite-copy-state.ts';
export {
  loadOverview,
  OVERVIEW_PAGE_SIZE,
  type Overview,
  type OverviewDeployment,
  OVERVIEW_SHARE_MS,
  overviewQuerySchema,
  pageOf,
  type RankedOverview,
} from './overview.ts';
export { type OverviewRow, toOverviewRows } from './overview-rows.ts';
export { createSharedResults, type SharedResults } from './shared-result.ts';
export {
  emptyRestoresMessage,
  listRestoreHistory,
  type RestoreHistoryItem,
  restoreHistoryQuerySchema,
  type RestoreNextStep,
} from './restore-history.ts';
export {
  findRestoreForPrincipal,
  livePlanResponse,
  planUnansweredResponse,
  refusalResponse,
  restoreNotFound,
} from './restore-http.ts';
export { MAX_BODY_BYTES, MAX_REQUEST_BYTES, parseJsonBytes, readBoundedBody } from './request-body.ts';
export { CLIENT_ADDRESS_HEADER, clientAddress, requestClientAddress } from './client-address.ts';
export { contentSecurityPolicy, generateNonce, securityHeaders } from './security-headers.ts';
export { isSecureTransport, type TransportSettings } from './transport-security.ts';
export { toRestoreRecordJson } from './restore-json.ts';
export { LOGIN_PATH, readSignIn, safeNextPath, sessionCookie, signInRedirect } from './session.ts';
export { type BackupRequestResult, requestBackup } from './start-backup.ts';
export { type JobJson, toJobJson } from './job-json.ts';
export { lifetimeSchema, scopeListSchema, tokenExpiry } from './token-options.ts';
export { type RateDecision, RateLimiter, type RateRule } from './rate-limit.ts';
export { createRequestLimits, limitRequest, type RequestLimits, tooManyRequests } from './request-limits.ts';
export { findJobForPrincipal } from './job-lookup.ts';
export type { TestRestoreSummary } from './test-restore-summary.ts';
export { getWebContext, type WebContext } from './web-context.ts';
export { describeProgress, type ProgressView } from './progress.ts';
