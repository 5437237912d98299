import type { NextConfig } from 'next';

/**
 * The dashboard (src/app). Server code reads the database and the cluster through src/lib, whose Node-only
 * dependencies are loaded by Node at run time instead of being bundled (native-ish loaders, WASM, worker threads).
 */
const nextConfig: NextConfig = {
  serverExternalPackages: [
    '@prisma/client',
    '@prisma/adapter-pg',
    'pg',
    '@electric-sql/pglite',
    'pglite-prisma-adapter',
    '@kubernetes/client-node',
    'pino',
    'ws',
  ],
  // `next build` type-checks what the app compiles (src/app and the src/lib it imports), not the tests and benchmarks:
  // `npm run typecheck` checks the whole project once.
  typescript: { ignoreBuildErrors: false, tsconfigPath: 'tsconfig.web.json' },
  poweredByHeader: false,
};

export default nextConfig;
