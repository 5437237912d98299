// Configuration for the Prisma 6 CLI used only by the drift check: its WebAssembly schema engine runs offline when a
// driver adapter is configured, so `migrate diff` works without Prisma's downloadable native engine.
import { PrismaPg } from 'prisma6-adapter-pg';

export default {
  experimental: { adapter: true },
  engine: 'js',
  schema: '../schema.prisma',
  async adapter() {
    // A short idle timeout lets the CLI exit as soon as it is done instead of holding the pool open for 10 s.
    return new PrismaPg({ connectionString: process.env.DRIFT_DATABASE_URL, idleTimeoutMillis: 50 });
  },
};
