/**
 * Next.js calls `register` once when a server of the built app prepares (and in `next dev`), in the app's own copy
 * of src/lib: it publishes the routes our production server answers without Next.js's request pipeline, so that they
 * run in that copy, beside the Next.js routes (src/lib/web/direct-routes.ts says why).
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { publishDirectRoutes } = await import('./lib/web/index.ts');
  publishDirectRoutes();
}
