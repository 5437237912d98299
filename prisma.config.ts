import { defineConfig } from 'prisma/config';

// `env('DATABASE_URL')` would throw when the variable is unset and break `prisma generate` at install time.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
