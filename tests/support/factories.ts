import { randomBytes } from 'node:crypto';
import type { Prisma, PrismaClient } from '../../src/generated/prisma/client.ts';
import { registerDeploymentPods } from './fake-kube-api.ts';

/** Small builders for test data with unique, valid names; every field can be overridden. */
export async function createWorkspace(
  prisma: PrismaClient,
  overrides: Partial<Prisma.WorkspaceUncheckedCreateInput> = {},
) {
  const suffix = randomBytes(4).toString('hex');
  return prisma.workspace.create({ data: { name: `Workspace ${suffix}`, slug: `ws-${suffix}`, ...overrides } });
}

export async function createDeployment(
  prisma: PrismaClient,
  workspaceId: string,
  overrides: Partial<Prisma.DeploymentUncheckedCreateInput> = {},
) {
  const suffix = randomBytes(4).toString('hex');
  const deployment = await prisma.deployment.create({
    data: {
      workspaceId,
      name: `db-${suffix}`,
      recipeSlug: 'postgresql',
      namespace: 'apps',
      status: 'RUNNING',
      ...overrides,
    },
  });
  registerDeploymentPods(deployment);
  return deployment;
}
