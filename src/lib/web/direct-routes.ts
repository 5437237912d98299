/**
 * The routes our production server (src/web-server.ts) answers itself instead of handing them to Next.js: the two
 * hot ones, a deployment's history (`GET /api/deployments/{id}/backups`) and a backup's download
 * (`GET|HEAD /api/backups/{id}/download`). Next.js's request pipeline (routing, the route module, its web-stream
 * response piping) cost more than the endpoint's own work on the history, and held a download to about half of what
 * node:http sends from the same file. The endpoints are the ones the Next.js routes call (history-endpoint.ts,
 * download-endpoint.ts), so `next dev` and production answer alike; only the transport differs.
 *
 * Which copy of this code runs matters. Our server is compiled to dist/ and Next.js bundles src/lib into .next/: two
 * copies of every module. The web context is shared through `globalThis`, and errors and values of one copy are not
 * instances of the other's classes, so the routes must run in the app's copy, beside its routes. Next.js's
 * instrumentation hook (src/instrumentation.ts) runs in the app's copy when the server prepares; it publishes
 * `serveDirectRoute` under a well-known symbol, and our server takes it from there (`directRoutesPublished`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHead } from './api-auth.ts';
import { answerDownloadRequest } from './download-endpoint.ts';
import { answerHistoryRequest } from './history-endpoint.ts';
import { sendAnswer, sendBackupFile, sendResponse } from './node-answers.ts';
import { getWebContext } from './web-context.ts';

/**
 * The paths served here, with the id as Next.js would pass it. Only ids of characters that need no decoding are
 * taken; any other spelling (percent-encoded, a trailing slash, a longer id) goes to Next.js, which answers it as
 * before (a redirect, or the 404 of an id that cannot exist).
 */
const HISTORY_PATH = /^\/api\/deployments\/([A-Za-z0-9_-]{1,64})\/backups$/;
const DOWNLOAD_PATH = /^\/api\/backups\/([A-Za-z0-9_-]{1,64})\/download$/;

/** Where the app's copy leaves `serveDirectRoute` for our server's copy. */
const DIRECT_ROUTES_KEY = Symbol.for('ops-agent.web.direct-routes');

/** Answers `req` if it is one of the direct routes (resolves once the answer is sent); null: it is Next.js's. */
export type ServeDirectRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void> | null;

export const serveDirectRoute: ServeDirectRoute = (req, res) => {
  const target = req.url ?? '';
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (req.method === 'GET') {
    const id = HISTORY_PATH.exec(path)?.[1];
    if (id) return serveHistory(req, res, id);
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const id = DOWNLOAD_PATH.exec(path)?.[1];
    if (id) return serveDownload(req, res, id);
  }
  return null;
};

async function serveHistory(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const { runtime, credentials } = await getWebContext();
  const deps = { db: runtime.database.prisma, query: runtime.database.query, credentials };
  await sendAnswer(req, res, await answerHistoryRequest(deps, requestHead(req), id, new Date()));
}

async function serveDownload(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const { runtime } = await getWebContext();
  const deps = { db: runtime.database.prisma, backupRoot: runtime.config.BACKUP_ROOT, logger: runtime.logger };
  const answer = await answerDownloadRequest(deps, requestHead(req), id, new Date());
  await (answer instanceof Response ? sendResponse(req, res, answer) : sendBackupFile(res, answer));
}

/**
 * What the endpoints read of a node:http request. The URL's origin is a placeholder: these endpoints read only its
 * path and query (the origin matters to the cross-site check of writes, and these routes only read).
 */
function requestHead(req: IncomingMessage): RequestHead {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return { method: req.method ?? 'GET', url: `http://localhost${req.url ?? '/'}`, headers };
}

/** The meeting point of the two copies: whichever comes first creates it (the same code in both). */
interface Handoff {
  published: Promise<ServeDirectRoute>;
  publish(serve: ServeDirectRoute): void;
}

function handoff(): Handoff {
  const slots = globalThis as Record<symbol, Handoff | undefined>;
  slots[DIRECT_ROUTES_KEY] ??= (() => {
    let publish: (serve: ServeDirectRoute) => void = () => undefined;
    const published = new Promise<ServeDirectRoute>((resolve) => (publish = resolve));
    return { published, publish };
  })();
  return slots[DIRECT_ROUTES_KEY];
}

/** Called by the app's instrumentation hook: makes the app's copy of the direct routes reachable from our server. */
export function publishDirectRoutes(): void {
  handoff().publish(serveDirectRoute);
}

/**
 * The app's `serveDirectRoute`, once published. Next.js starts preparing the built app (which runs the
 * instrumentation hook) in `app.prepare()` but does not wait for it in production, so our server waits here.
 */
export function directRoutesPublished(): Promise<ServeDirectRoute> {
  return handoff().published;
}
