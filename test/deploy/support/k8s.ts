// Kubernetes and Istio manifests, validated with kubernetes-models and @kubernetes-models/istio.
// Their schemas accept unknown fields, which `kubectl apply` (strict field validation) rejects,
// so the validation runs on a proxy that records which fields the schema looked at: a field it
// never read, in an object it never enumerated as a map, is one it does not know.
import { IstioOperator } from '@kubernetes-models/istio/install.istio.io/v1alpha1/IstioOperator';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { isObject } from './repo.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: Record<string, unknown>) => Validatable;

/** Every kind we ship, by `apiVersion/kind`. */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'security.istio.io/v1/AuthorizationPolicy': AuthorizationPolicy,
  'security.istio.io/v1beta1/PeerAuthentication': PeerAuthentication,
  'install.istio.io/v1alpha1/IstioOperator': IstioOperator,
};

/**
 * Parts of a kind its model does not describe at all, checked elsewhere: IstioOperator's model
 * has no spec schema (istio.test.ts checks the mesh config it carries).
 */
const UNMODELLED: Record<string, string[]> = { 'install.istio.io/v1alpha1/IstioOperator': ['/spec'] };

export function kindOf(object: unknown): string {
  return isObject(object) ? `${String(object.apiVersion)}/${String(object.kind)}` : '(not an object)';
}

/** What is wrong with one manifest object: no model for its kind, schema errors, unknown fields. */
export function manifestProblems(object: unknown): string[] {
  const kind = kindOf(object);
  const Model = MODELS[kind];
  if (!Model || !isObject(object)) return [`${kind}: no model for this kind`];
  const model = new Model(object);
  const read = new Map<string, Set<string>>();
  const enumerated = new Set<string>();
  const note = (path: string, key: string | symbol): void => {
    if (typeof key === 'string') (read.get(path) ?? read.set(path, new Set()).get(path)!).add(key);
  };
  const track = <T>(value: T, path: string): T =>
    typeof value !== 'object' || value === null
      ? value
      : new Proxy(value, {
          get(target, key, receiver) {
            note(path, key);
            const child: unknown = Reflect.get(target, key, receiver);
            return typeof key === 'string' ? track(child, `${path}/${key}`) : child;
          },
          has(target, key) {
            note(path, key);
            return Reflect.has(target, key);
          },
          getOwnPropertyDescriptor(target, key) {
            note(path, key);
            return Reflect.getOwnPropertyDescriptor(target, key);
          },
          ownKeys(target) {
            enumerated.add(path);
            return Reflect.ownKeys(target);
          },
        });
  const problems: string[] = [];
  try {
    model.validate.call(track(model, ''));
  } catch (error) {
    problems.push(`${kind}: ${(error as Error).message}`);
  }
  const skipped = UNMODELLED[kind] ?? [];
  const visit = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      const at = `${path}/${key}`;
      if (skipped.includes(at)) continue;
      const known = Array.isArray(value) || enumerated.has(path) || read.get(path)?.has(key);
      if (!known) problems.push(`${kind}: unknown field ${at}`);
      else visit(child, at);
    }
  };
  visit(object, '');
  return problems;
}
