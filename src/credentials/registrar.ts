import type { Sql } from '../db/sql.ts';
import { Watched } from '../db/watched.ts';
import type { Logger } from '../log.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { providerTypes, type ProviderConfig, type ProviderType } from '../providers/types.ts';
import type { Redactor } from '../redact.ts';
import { openKeys } from './cipher.ts';
import { PROVIDER_CREDENTIALS_CHANNEL, type CredentialRecord, type CredentialStore } from './store.ts';

/**
 * Keeps the providers configured through the admin API registered on this replica: loads them at
 * start, and again when `gomodel_provider_credentials` announces a change (within milliseconds on
 * every replica; a reload every 30 s covers a lost connection). Keys are opened once per change,
 * never per request. A provider whose keys do not open (GOMODEL_CREDENTIALS_KEY is not the one
 * they were sealed with) is logged and left out; the others still load.
 */
export class CredentialRegistrar {
  /** Name → the `updated_at` of the row registered under it, to leave unchanged providers (and their key rotation) alone. */
  private registered = new Map<string, number>();
  /** Rows whose keys did not open, by `updated_at`: logged once per version. */
  private unopened = new Map<string, number>();

  private readonly watched: Watched;

  constructor(
    private readonly listenSql: Sql,
    private readonly store: CredentialStore,
    private readonly registry: ProviderRegistry,
    private readonly redactor: Redactor,
    private readonly key: Buffer | null,
    /** Providers from the environment and config.yaml: never replaced by a stored one. */
    private readonly fixed: ReadonlySet<string>,
    private readonly log: Logger,
  ) {
    this.watched = new Watched(() => this.load(), 'provider credentials', log);
  }

  async start(): Promise<void> {
    await this.watched.start(this.listenSql, PROVIDER_CREDENTIALS_CHANNEL);
  }

  async stop(): Promise<void> {
    await this.watched.stop();
  }

  /** Reloads the stored providers; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    return this.watched.reload();
  }

  private async load(): Promise<void> {
    this.install(await this.store.list());
  }

  private install(records: CredentialRecord[]): void {
    const wanted = new Map<string, CredentialRecord>();
    for (const r of records) if (r.enabled && !this.fixed.has(r.name)) wanted.set(r.name, r);
    for (const name of this.registered.keys()) {
      if (wanted.has(name)) continue;
      this.registry.unregister(name);
      this.registered.delete(name);
      this.log.info({ provider: name }, `provider ${name} removed`);
    }
    for (const [name, r] of wanted) {
      const version = r.updated_at.getTime();
      if (this.registered.get(name) === version) continue;
      const config = this.configOf(r);
      if (!config) {
        if (this.registered.delete(name)) this.registry.unregister(name);
        continue;
      }
      this.redactor.add(config.apiKeys ?? [config.apiKey]);
      this.registry.register(config);
      this.registered.set(name, version);
      this.log.info({ provider: name, type: config.type, keys: config.apiKeys?.length ?? (config.apiKey ? 1 : 0) }, `provider ${name} registered from the admin API`);
    }
  }

  private configOf(r: CredentialRecord): ProviderConfig | null {
    const version = r.updated_at.getTime();
    const once = (message: string, fields: Record<string, unknown> = {}) => {
      if (this.unopened.get(r.name) === version) return;
      this.unopened.set(r.name, version);
      this.log.error({ provider: r.name, ...fields }, message);
    };
    if (!providerTypes.includes(r.type as ProviderType)) {
      once(`stored provider ${r.name} has type "${r.type}", which this gateway does not know: it is left out`);
      return null;
    }
    if (!this.key) {
      once(`stored provider ${r.name} cannot be used: GOMODEL_CREDENTIALS_KEY is not set, and its keys are sealed with it`);
      return null;
    }
    let keys: string[];
    try {
      keys = openKeys(this.key, r.name, r.secret);
    } catch (err) {
      once(`stored provider ${r.name} cannot be used: its keys do not open with this GOMODEL_CREDENTIALS_KEY (not the key they were stored with?)`, { err: (err as Error).message });
      return null;
    }
    this.unopened.delete(r.name);
    return { name: r.name, type: r.type as ProviderType, baseUrl: r.base_url, apiKey: keys[0] ?? '', ...(keys.length > 1 ? { apiKeys: keys } : {}), models: r.models };
  }
}
