import { normalizeUserPath } from './user-path.ts';

/** How a virtual model with several targets picks the one a request goes to. */
export const virtualModelStrategies = ['round_robin', 'weighted', 'cost'] as const;
export type VirtualModelStrategy = (typeof virtualModelStrategies)[number];

/** A concrete model a virtual model redirects to: a selector (`model` or `provider/model`), or a model of the provider named apart. */
export interface VirtualModelTarget {
  model: string;
  provider?: string;
  weight: number;
}

/**
 * A virtual model as configured or stored: with targets, a redirect of `source` to them; without,
 * an access policy on the models `source` selects (`/` every model, `name/` a provider's, a bare
 * model wherever served, or `name/model`).
 */
export interface VirtualModelDefinition {
  source: string;
  targets: VirtualModelTarget[];
  strategy: VirtualModelStrategy;
  /** Normalised, without duplicates, sorted; empty: every caller. */
  userPaths: string[];
  description: string;
  enabled: boolean;
}

/** A definition that cannot be used; `param` names the field (`targets[1].weight`). */
export class DefinitionError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

const MAX_NAME = 512;
const MAX_DESCRIPTION = 4096;
const MAX_TARGETS = 100;
const MAX_USER_PATHS = 100;
const MAX_WEIGHT = 1_000_000;
const controls = /[\u0000-\u001f\u007f]/;

function nameOf(value: unknown, param: string): string {
  if (typeof value !== 'string') throw new DefinitionError(`${param} must be a string`, param);
  const name = value.trim();
  if (!name) throw new DefinitionError(`${param} must not be empty`, param);
  if (name.length > MAX_NAME) throw new DefinitionError(`${param} is longer than ${MAX_NAME} characters`, param);
  if (controls.test(name)) throw new DefinitionError(`${param} must not contain control characters`, param);
  return name;
}

const absent = (v: unknown) => v === undefined || v === null || v === '';

function targetOf(raw: unknown, param: string): VirtualModelTarget {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DefinitionError(`${param} must be an object {model, weight}`, param);
  const t = raw as Record<string, unknown>;
  const target: VirtualModelTarget = { model: nameOf(t.model, `${param}.model`), weight: 1 };
  if (!absent(t.provider)) target.provider = nameOf(t.provider, `${param}.provider`);
  if (t.weight !== undefined && t.weight !== null) {
    const w = t.weight;
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0 || w > MAX_WEIGHT) {
      throw new DefinitionError(`${param}.weight must be a number above 0 and at most ${MAX_WEIGHT}`, `${param}.weight`);
    }
    target.weight = w;
  }
  return target;
}

function userPathsOf(raw: unknown): string[] {
  if (absent(raw)) return [];
  if (!Array.isArray(raw)) throw new DefinitionError('user_paths must be an array of user paths', 'user_paths');
  if (raw.length > MAX_USER_PATHS) throw new DefinitionError(`user_paths may list at most ${MAX_USER_PATHS} paths`, 'user_paths');
  const paths = new Set<string>();
  raw.forEach((p, i) => {
    if (typeof p !== 'string') throw new DefinitionError(`user_paths[${i}] must be a string`, `user_paths[${i}]`);
    let path: string | null;
    try {
      path = normalizeUserPath(p);
    } catch (err) {
      throw new DefinitionError(`user_paths[${i}]: ${(err as Error).message}`, `user_paths[${i}]`);
    }
    if (path === null) throw new DefinitionError(`user_paths[${i}] must not be empty`, `user_paths[${i}]`);
    paths.add(path);
  });
  return [...paths].sort();
}

/**
 * Checks and normalises one virtual model in the original gateway's field names (`source`,
 * `target_model` or `targets[{model, provider, weight}]`, `strategy`, `user_paths`, `description`,
 * `enabled`), from config.yaml, VIRTUAL_MODELS or an admin request. Says nothing about whether a
 * provider serves the targets: that is known only once the providers have listed their models.
 */
export function parseVirtualModel(raw: unknown): VirtualModelDefinition {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DefinitionError('a virtual model must be an object with a source', 'source');
  const b = raw as Record<string, unknown>;
  const source = nameOf(b.source, 'source');
  const many = Array.isArray(b.targets) && b.targets.length > 0;
  if (!absent(b.target_model) && many) throw new DefinitionError('give target_model or targets, not both', 'target_model');
  let targets: VirtualModelTarget[] = [];
  if (!absent(b.target_model)) targets = [{ model: nameOf(b.target_model, 'target_model'), weight: 1 }];
  else if (!absent(b.targets)) {
    if (!Array.isArray(b.targets)) throw new DefinitionError('targets must be an array of {model, weight}', 'targets');
    if (b.targets.length > MAX_TARGETS) throw new DefinitionError(`a virtual model may have at most ${MAX_TARGETS} targets`, 'targets');
    targets = b.targets.map((t, i) => targetOf(t, `targets[${i}]`));
    const seen = new Set<string>();
    targets.forEach((t, i) => {
      const key = `${t.provider ?? ''}\u0000${t.model}`;
      if (seen.has(key)) throw new DefinitionError(`targets[${i}] repeats ${t.provider ? `${t.provider}/` : ''}${t.model}`, `targets[${i}]`);
      seen.add(key);
    });
  }
  let strategy: VirtualModelStrategy = 'round_robin';
  if (!absent(b.strategy)) {
    const s = typeof b.strategy === 'string' ? b.strategy.trim().toLowerCase() : '';
    if (!(virtualModelStrategies as readonly string[]).includes(s)) {
      throw new DefinitionError(`strategy must be one of ${virtualModelStrategies.join(', ')}`, 'strategy');
    }
    strategy = s as VirtualModelStrategy;
  }
  let description = '';
  if (!absent(b.description)) {
    if (typeof b.description !== 'string') throw new DefinitionError('description must be a string', 'description');
    if (b.description.length > MAX_DESCRIPTION) throw new DefinitionError(`description is longer than ${MAX_DESCRIPTION} characters`, 'description');
    if (/[\u0000\u007f]/.test(b.description)) throw new DefinitionError('description must not contain NUL or DEL', 'description');
    description = b.description.trim();
  }
  if (b.enabled !== undefined && b.enabled !== null && typeof b.enabled !== 'boolean') throw new DefinitionError('enabled must be true or false', 'enabled');
  return { source, targets, strategy, userPaths: userPathsOf(b.user_paths), description, enabled: b.enabled !== false };
}

/** Whether a path lies in one of the subtrees (none listed: every path does). */
export function userPathAllowed(path: string, subtrees: readonly string[]): boolean {
  if (subtrees.length === 0) return true;
  for (const root of subtrees) if (root === '/' || path === root || path.startsWith(`${root}/`)) return true;
  return false;
}
