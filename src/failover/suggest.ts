import type { ProviderEntry, Route } from '../providers/registry.ts';
import type { PriceBook } from '../usage/pricing.ts';
import type { FailoverView } from './rules.ts';

/** At most this many fallbacks are suggested for a model. */
const MAX_SUGGESTED = 3;
/** A fallback may cost up to this much more than the primary (per million input plus output tokens). */
const PRICE_SLACK = 1.25;

type Kind = 'embedding' | 'image' | 'audio' | 'moderation' | 'chat';

/** What a model does, from its id: providers' model lists say nothing more. */
export function kindOf(model: string): Kind {
  const m = model.toLowerCase();
  if (m.includes('embed')) return 'embedding';
  if (/dall-e|image|imagen|flux|stable-diffusion/.test(m)) return 'image';
  if (/whisper|tts|transcribe|audio|speech/.test(m)) return 'audio';
  if (m.includes('moderation')) return 'moderation';
  return 'chat';
}

interface Candidate {
  selector: string;
  model: string;
  kind: Kind;
  /** Femto-dollars per input token plus per output token; null when unpriced. */
  price: bigint | null;
}

/**
 * Suggested failover chains, never stored: for each primary model, up to three models of the same
 * kind served by a route other than its own, either the same model id at another provider, or a
 * priced model costing at most 25 % more than it (input plus output price per token), the same
 * model id first, then the cheapest. An unpriced primary gets only the same model elsewhere.
 */
export function suggestFailover(entries: readonly ProviderEntry[], prices: PriceBook, primary: Route | null, selector?: string): FailoverView[] {
  const priceOf = (e: ProviderEntry, model: string) => {
    const p = prices.lookup(e.config.type, e.config.name, model);
    return p ? p.input + p.output : null;
  };
  const all: Candidate[] = entries.flatMap((e) => [...e.models].map((model) => ({ selector: `${e.config.name}/${model}`, model, kind: kindOf(model), price: priceOf(e, model) })));
  const primaries: { selector: string; own: string; model: string; price: bigint | null }[] = primary
    ? [{ selector: selector ?? `${primary.entry.config.name}/${primary.model}`, own: `${primary.entry.config.name}/${primary.model}`, model: primary.model, price: priceOf(primary.entry, primary.model) }]
    : all.map((c) => ({ selector: c.selector, own: c.selector, model: c.model, price: c.price }));
  const views: FailoverView[] = [];
  for (const p of primaries) {
    const kind = kindOf(p.model);
    const fits = all.filter((c) => {
      if (c.selector === p.own || c.kind !== kind) return false;
      if (c.model === p.model) return true;
      return p.price !== null && c.price !== null && Number(c.price) <= Number(p.price) * PRICE_SLACK;
    });
    fits.sort((a, b) => Number(b.model === p.model) - Number(a.model === p.model) || Number((a.price ?? 0n) - (b.price ?? 0n)) || a.selector.localeCompare(b.selector));
    if (fits.length === 0) continue;
    views.push({ primary_model: p.selector, fallback_models: fits.slice(0, MAX_SUGGESTED).map((c) => c.selector), enabled: true, managed: false, managed_source: 'generated' });
  }
  return views;
}
