import type httpModule from 'node:http';
import type httpsModule from 'node:https';
import { createRequire } from 'node:module';

/**
 * node:http and node:https, required rather than imported. An ES import of a built-in makes Node build a module
 * facade that reads every export, and node:http's `WebSocket` getter then loads undici: about 35 ms of CPU at the
 * start of every CLI and backup process here (measured by alternating runs of the backup bench client), for a
 * WebSocket class nothing of ours uses. Type-only imports of node:http cost nothing and stay as they are.
 */
const require = createRequire(import.meta.url);

export const nodeHttp = require('node:http') as typeof httpModule;
export const nodeHttps = require('node:https') as typeof httpsModule;
