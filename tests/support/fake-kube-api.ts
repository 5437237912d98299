// The fake Kubernetes API server lives in src/dev/local-cluster (the demo runs against it too); tests import it here.
export * from '../../src/dev/local-cluster/fake-kube-api.ts';
