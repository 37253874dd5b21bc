import type { Sql } from '../db/sql.ts';
import { Watched } from '../db/watched.ts';
import type { Logger } from '../log.ts';
import { priceFromFields } from './model-price.ts';
import { PRICING_OVERRIDES_CHANNEL, type PriceOverrideStore } from './price-override-store.ts';
import type { PriceBook, ScopedPrice } from './pricing.ts';

/**
 * Keeps the price book's admin-API prices fresh in every process: a change anywhere is announced on
 * `gomodel_pricing_overrides` and each process reloads the (small) table when the notification
 * arrives; a reload every 30 s covers a lost connection. Pricing a row stays a map look-up.
 */
export class PriceOverrides {
  private readonly watched: Watched;

  constructor(
    private readonly sql: Sql,
    private readonly store: PriceOverrideStore,
    private readonly prices: PriceBook,
    private readonly log: Logger,
  ) {
    this.watched = new Watched(() => this.load(), 'pricing overrides', log);
  }

  async start(): Promise<void> {
    await this.watched.start(this.sql, PRICING_OVERRIDES_CHANNEL);
  }

  async stop(): Promise<void> {
    await this.watched.stop();
  }

  /** Reloads the stored overrides; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    return this.watched.reload();
  }

  private async load(): Promise<void> {
    const scoped: ScopedPrice[] = [];
    for (const o of await this.store.list()) {
      try {
        scoped.push({ scopeKind: o.scopeKind, provider: o.provider, model: o.model, price: priceFromFields(o.pricing, `pricing override ${o.selector}`) });
      } catch (err) {
        // The API validates what it stores; a row edited by hand must not stop the others.
        this.log.warn({ selector: o.selector, err: String(err) }, 'ignoring a stored pricing override that is not a valid price');
      }
    }
    this.prices.useScoped(scoped);
  }
}
