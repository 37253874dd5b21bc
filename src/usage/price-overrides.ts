import type { Sql } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import { priceFromFields } from './model-price.ts';
import { PRICING_OVERRIDES_CHANNEL, type PriceOverrideStore } from './price-override-store.ts';
import type { PriceBook, ScopedPrice } from './pricing.ts';

const REFRESH_MS = 30_000;

/**
 * Keeps the price book's admin-API prices fresh in every process: a change anywhere is announced on
 * `gomodel_pricing_overrides` and each process reloads the (small) table when the notification
 * arrives; a reload every 30 s covers a lost connection. Pricing a row stays a map look-up.
 */
export class PriceOverrides {
  private loading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly store: PriceOverrideStore,
    private readonly prices: PriceBook,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    const reload = () => void this.reload().catch((err: unknown) => this.log.warn({ err: String(err) }, 'could not reload pricing overrides'));
    // onlisten runs again after the listening connection is re-established: reload what was missed.
    const { unlisten } = await this.sql.listen(PRICING_OVERRIDES_CHANNEL, reload, reload);
    this.unlisten = unlisten;
    this.timer = setInterval(reload, REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unlisten?.();
  }

  /** Reloads the stored overrides; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
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
        } while (this.again);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }
}
