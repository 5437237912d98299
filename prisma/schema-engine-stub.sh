#!/bin/sh
# Stand-in for Prisma's native schema engine, which cannot be downloaded here. `prisma generate` only needs the path to
# exist; anything that really needs the engine (migrate, db push) fails loudly instead of silently.
echo "schema-engine is not available on this machine; migrations are applied by 'npm run db:migrate'" >&2
exit 1
