import type { Sql } from '../db/sql.ts';
import { Watched } from '../db/watched.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProviderRegistry, Route } from '../providers/registry.ts';
import type { PriceBook } from '../usage/pricing.ts';
import { userPathAllowed, type VirtualModelDefinition } from '../virtual-model-definition.ts';
import { VIRTUAL_MODELS_CHANNEL, type VirtualModelStore } from './store.ts';

/** A virtual model in force: stored (made through the admin API) or `managed` (from the configuration, read-only). */
export interface VirtualModel extends VirtualModelDefinition {
  managed: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** How much of the model space an access policy's source covers. */
export type PolicyScope = 'global' | 'provider' | 'model' | 'provider_model';

export interface Policy {
  vm: VirtualModel;
  scope: PolicyScope;
  providerName: string | null;
  model: string | null;
}

interface Redirect {
  vm: VirtualModel;
  /** Smooth weighted round robin: each target's running score in this process. */
  score: Float64Array;
}

export const modelAccessDenied = (message: string) => new GatewayError('invalid_request_error', 403, message, { code: 'model_access_denied', param: 'model' });

/** The concrete model a virtual model's target names, when a provider serves it. */
function servedRoute(registry: ProviderRegistry, model: string, provider: string | undefined): Route | null {
  const r = registry.resolve(model, provider);
  return r && (r.entry.open || r.entry.models.has(r.model)) ? r : null;
}

/**
 * Every virtual model, in memory, kept fresh across processes as managed keys are: a change
 * anywhere is announced on `gomodel_virtual_models` and each process reloads the (small) table
 * when the notification arrives; a reload every 30 s covers a lost connection. Resolving a
 * request's model is a map look-up: a model no virtual model names costs one miss, and the
 * access-policy check is skipped while no policy exists.
 */
export class VirtualModels {
  private redirects = new Map<string, Redirect>();
  /** Access policies by their source (`/`, `name/`, `model`, `name/model`). */
  private policies = new Map<string, Policy>();
  private all: VirtualModel[] = [];
  private readonly managed: VirtualModel[];
  private readonly providerNames: Set<string>;

  private readonly watched: Watched;

  constructor(
    private readonly sql: Sql,
    private readonly store: VirtualModelStore,
    managed: readonly VirtualModelDefinition[],
    private readonly registry: ProviderRegistry,
    private readonly prices: PriceBook,
    private readonly log: Logger,
  ) {
    this.watched = new Watched(() => this.load(), 'virtual models', log);
    const loaded = new Date();
    this.managed = managed.map((d) => ({ ...d, managed: true, createdAt: loaded, updatedAt: loaded }));
    this.providerNames = new Set(registry.entries.map((e) => e.config.name));
  }

  async start(): Promise<void> {
    await this.watched.start(this.sql, VIRTUAL_MODELS_CHANNEL);
    for (const vm of this.managed) {
      if (vm.targets.length && !vm.targets.some((t) => servedRoute(this.registry, t.model, t.provider))) {
        this.log.warn({ source: vm.source }, `virtual model ${vm.source}: no configured provider serves any of its targets yet`);
      }
    }
  }

  async stop(): Promise<void> {
    await this.watched.stop();
  }

  /** Reloads the stored virtual models; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    return this.watched.reload();
  }

  private async load(): Promise<void> {
    this.install((await this.store.list()).map((s) => ({ ...s, managed: false })));
  }

  /** Stored virtual models with the configuration's on top: a managed source hides a stored one. */
  private install(stored: VirtualModel[]): void {
    const bySource = new Map<string, VirtualModel>();
    for (const vm of stored) bySource.set(vm.source, vm);
    for (const vm of this.managed) bySource.set(vm.source, vm);
    const redirects = new Map<string, Redirect>();
    const policies = new Map<string, Policy>();
    for (const vm of bySource.values()) {
      if (vm.targets.length) {
        // A target's running score survives a reload that leaves its virtual model's targets as they were.
        const before = this.redirects.get(vm.source);
        const same = before && before.vm.targets.length === vm.targets.length && before.vm.targets.every((t, i) => t.model === vm.targets[i]!.model && t.provider === vm.targets[i]!.provider);
        redirects.set(vm.source, { vm, score: same ? before.score : new Float64Array(vm.targets.length) });
      } else policies.set(vm.source, this.policyOf(vm));
    }
    this.redirects = redirects;
    this.policies = policies;
    this.all = [...bySource.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  }

  /** How an access policy's source reads: a provider name before the first slash makes it that provider's. */
  policyOf(vm: VirtualModel): Policy {
    if (vm.source === '/') return { vm, scope: 'global', providerName: null, model: null };
    const slash = vm.source.indexOf('/');
    const prefix = slash > 0 ? vm.source.slice(0, slash) : '';
    if (this.providerNames.has(prefix)) {
      const model = vm.source.slice(slash + 1);
      return model ? { vm, scope: 'provider_model', providerName: prefix, model } : { vm, scope: 'provider', providerName: prefix, model: null };
    }
    return { vm, scope: 'model', providerName: null, model: vm.source };
  }

  /** Every virtual model in force, by source. */
  list(): readonly VirtualModel[] {
    return this.all;
  }

  get(source: string): VirtualModel | undefined {
    return this.redirects.get(source)?.vm ?? this.policies.get(source)?.vm;
  }

  /** The access policy governing a concrete model: the most specific of `name/model`, `model`, `name/`, `/`. */
  policyFor(providerName: string, model: string): Policy | undefined {
    const p = this.policies;
    return p.get(`${providerName}/${model}`) ?? p.get(model) ?? p.get(`${providerName}/`) ?? p.get('/');
  }

  /** Whether a caller at `userPath` may use a concrete model. */
  allows(providerName: string, model: string, userPath: string): boolean {
    if (this.policies.size === 0) return true;
    const policy = this.policyFor(providerName, model);
    return !policy || (policy.vm.enabled && userPathAllowed(userPath, policy.vm.userPaths));
  }

  /** Refuses a concrete route its access policy closes to the caller (403 `model_access_denied`). */
  authorize(r: Route, requested: string, userPath: string): void {
    if (this.policies.size === 0) return;
    const policy = this.policyFor(r.entry.config.name, r.model);
    if (!policy) return;
    if (!policy.vm.enabled) throw modelAccessDenied(`model ${requested} is disabled on this gateway`);
    if (!userPathAllowed(userPath, policy.vm.userPaths)) throw modelAccessDenied(`model ${requested} is not available to user path ${userPath}`);
  }

  /**
   * The targets a request for the virtual model `selector` may go to, the strategy's choice first,
   * then the other available ones (declared order; cheapest first for `cost`); null when
   * `selector` is no virtual model. Targets no provider serves, and those an access policy closes
   * to the caller, are skipped. Throws 403 `model_access_denied` for a disabled virtual model, a
   * caller outside its user paths or one every available target is closed to, and 503
   * `model_unavailable` when no provider serves any target.
   */
  routes(selector: string, userPath: string): Route[] | null {
    const redirect = this.redirects.get(selector);
    if (redirect === undefined) return null;
    const { vm } = redirect;
    if (!vm.enabled) throw modelAccessDenied(`model ${selector} is disabled on this gateway`);
    if (!userPathAllowed(userPath, vm.userPaths)) throw modelAccessDenied(`model ${selector} is not available to user path ${userPath}`);
    const routes: Route[] = [];
    const indexes: number[] = [];
    let closed = false;
    for (let i = 0; i < vm.targets.length; i++) {
      const t = vm.targets[i]!;
      const r = servedRoute(this.registry, t.model, t.provider);
      if (!r) continue;
      if (!this.allows(r.entry.config.name, r.model, userPath)) {
        closed = true;
        continue;
      }
      r.requested = selector;
      routes.push(r);
      indexes.push(i);
    }
    if (routes.length === 0) {
      if (closed) throw modelAccessDenied(`model ${selector} is not available to user path ${userPath}`);
      throw new GatewayError('provider_error', 503, `no configured provider serves any target of virtual model ${selector} now`, { code: 'model_unavailable', param: 'model' });
    }
    if (routes.length === 1) return routes;
    const first = vm.strategy === 'cost' ? -1 : vm.strategy === 'weighted' ? this.weightedPick(vm, indexes) : this.roundRobinPick(redirect, indexes);
    if (first < 0) return this.byCost(routes);
    const chosen = routes[first]!;
    routes.splice(first, 1);
    routes.unshift(chosen);
    return routes;
  }

  /** Smooth weighted round robin over the available targets: deterministic, each target's share its weight's. */
  private roundRobinPick({ vm, score }: Redirect, indexes: number[]): number {
    let total = 0;
    let best = 0;
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k]!;
      const w = vm.targets[i]!.weight;
      score[i]! += w;
      total += w;
      if (score[i]! > score[indexes[best]!]!) best = k;
    }
    score[indexes[best]!]! -= total;
    return best;
  }

  private weightedPick(vm: VirtualModel, indexes: number[]): number {
    let total = 0;
    for (const i of indexes) total += vm.targets[i]!.weight;
    let x = Math.random() * total;
    for (let k = 0; k < indexes.length; k++) {
      x -= vm.targets[indexes[k]!]!.weight;
      if (x < 0) return k;
    }
    return indexes.length - 1;
  }

  /**
   * Cheapest first by the price table's input plus output rate per token (the rates in force now,
   * before any tier); unpriced targets last; equal prices keep their declared order.
   */
  private byCost(routes: Route[]): Route[] {
    const now = new Date();
    const keyed = routes.map((r, i) => {
      const p = this.prices.lookup(r.entry.config.type, r.entry.config.name, r.model, now);
      return { r, i, cost: p ? p.input + p.output : null };
    });
    keyed.sort((a, b) => (a.cost === null ? (b.cost === null ? a.i - b.i : 1) : b.cost === null ? -1 : a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : a.i - b.i));
    return keyed.map((k) => k.r);
  }

  /**
   * The enabled virtual models a caller at `userPath` may use and some provider serves now, as
   * model-list entries (`owned_by` the provider of the first target available to it).
   */
  listed(userPath: string): { id: string; owner: string; created: number }[] {
    const out: { id: string; owner: string; created: number }[] = [];
    for (const { vm } of this.redirects.values()) {
      if (!vm.enabled || !userPathAllowed(userPath, vm.userPaths)) continue;
      for (const t of vm.targets) {
        const r = servedRoute(this.registry, t.model, t.provider);
        if (r && this.allows(r.entry.config.name, r.model, userPath)) {
          out.push({ id: vm.source, owner: r.entry.config.name, created: Math.floor(vm.createdAt.getTime() / 1000) });
          break;
        }
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The first target of a virtual model some provider serves now (what the admin view shows it resolving to). */
  firstServed(vm: VirtualModel): Route | null {
    for (const t of vm.targets) {
      const r = servedRoute(this.registry, t.model, t.provider);
      if (r) return r;
    }
    return null;
  }

  /** Whether some provider serves a target (admin validation). */
  serves(model: string, provider: string | undefined): boolean {
    return servedRoute(this.registry, model, provider) !== null;
  }
}
