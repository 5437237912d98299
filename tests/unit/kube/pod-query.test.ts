import { describe, expect, it } from 'vitest';
import { labelSelectorProblem, podQueryProblems } from '../../../src/lib/kube/pod-query.ts';

/** The shapes of a deployment's pod lookup: what Kubernetes accepts is accepted, anything else is named. */
describe('labelSelectorProblem', () => {
  it.each([
    'app.kubernetes.io/instance=db-main',
    'app=db,tier!=cache',
    'app==db',
    'environment in (production, qa),tier notin (frontend)',
    'partition',
    '!partition',
    'platform.example/workspace-id=clx0abc',
    'app=',
  ])('accepts %j', (selector) => {
    expect(labelSelectorProblem(selector)).toBeNull();
  });

  it.each([
    ['', /it is empty/],
    ['app in (a', /is not a requirement/],
    ['app=db;rm', /is not a label value/],
    ['app=db; rm -rf /', /is not a requirement/],
    ['-app=db', /is not a label key/],
    ['Bad_Prefix.com/app=db', /is not a label key/],
    [`app=${'x'.repeat(64)}`, /is not a label value/],
    ['app in ()', /lists no value/],
    ['app=db,,tier=x', /is not a requirement/],
  ])('refuses %j', (selector, problem) => {
    expect(labelSelectorProblem(selector)).toMatch(problem);
  });
});

describe('podQueryProblems', () => {
  it('names each bad field with its value; a null selector is the default one', () => {
    expect(podQueryProblems({ namespace: 'apps', podSelector: null })).toEqual([]);
    expect(podQueryProblems({ namespace: 'Apps', podSelector: 'a in (' })).toEqual([
      expect.stringMatching(/^namespace "Apps" must be a DNS label/),
      expect.stringMatching(/^podSelector "a in \(" must be a Kubernetes label selector/),
    ]);
  });
});
