// The architecture, held by a tool: `npm run lint:imports` (part of `npm test`) fails on any import that breaks it.
// See docs/architecture.md for what each folder is.

/**
 * The layers of src/lib, lowest first: a folder may import the folders before it, never one after it. This list is
 * the one place the order is written down.
 */
const LAYERS = [
  'shared',
  'encryption',
  'cron',
  'recipes',
  'db',
  'jobs',
  'kube',
  'storage',
  'alerts',
  'verification',
  'offsite',
  'retention',
  'backups',
  'restore',
  'agent',
  'worker',
  'health',
  'runtime',
  'web',
];

const upwardImports = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer}`,
  comment: `src/lib/${layer} is below ${LAYERS.slice(index + 1).join(', ')}: it must not import them`,
  severity: 'error',
  from: { path: `^src/lib/${layer}/` },
  to: { path: `^src/lib/(${LAYERS.slice(index + 1).join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upwardImports,
    {
      name: 'unknown-lib-folder',
      comment: 'every folder under src/lib has its place in LAYERS (.dependency-cruiser.cjs)',
      severity: 'error',
      from: {},
      to: { path: '^src/lib/', pathNot: `^src/lib/(${LAYERS.join('|')})/` },
    },
    {
      name: 'through-index',
      comment: "a folder's public surface is its index.ts: other folders import through it",
      severity: 'error',
      from: { path: '^src/lib/([^/]+)/' },
      to: { path: '^src/lib/[^/]+/', pathNot: ['^src/lib/[^/]+/index\\.ts$', '^src/lib/$1/'] },
    },
    {
      name: 'entry-points-through-index',
      comment: 'the entry points (worker, CLIs, web app, dev tools) import src/lib folders through their index.ts',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/lib/' },
      to: { path: '^src/lib/[^/]+/', pathNot: '^src/lib/[^/]+/index\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, between folders or between files',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'lib-imports-no-entry-point',
      comment: 'src/lib is imported by the entry points (worker, CLIs, web app, dev tools), never the other way round',
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^src/(app|cli|dev)/|^src/(worker|web-server)\\.ts$' },
    },
    {
      name: 'lib-independent-of-next',
      comment:
        "src/lib does not depend on Next.js's runtime (headers, redirects, not-found): the web server, CLIs and worker load it outside a request",
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^node_modules/next/' },
    },
    {
      name: 'src-imports-no-tests',
      comment: 'production code never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(tests|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^src/generated/'] },
    exclude: { path: ['^src/generated/', '^\\.next/', '^dist/'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // TypeScript 7 has no compiler API yet: sources are parsed with swc.
    parser: 'swc',
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
