import type { TokenUsage } from '../providers/types.ts';
import type { RateField, Rates } from './model-price.ts';

/**
 * A part of a request's usage that a model can price apart. Its tags place it in the lattice of
 * units @pydantic/genai-prices prices by: a dimension whose tags include all of another's is part
 * of that one (cached audio input is part of cached input and of audio input, both part of input).
 */
interface Dimension {
  rate: RateField;
  tags: readonly string[];
  /** Undefined when the reply did not report it. */
  count(u: TokenUsage): number | undefined;
  /** What a caveat calls it. */
  noun: string;
  /**
   * Whether billing it at the rate of the part it belongs to, for want of a rate of its own, is
   * worth a caveat. Not for reasoning (billed as output by every provider that does not price it
   * apart) nor image and video input (billed as input tokens where they are not priced apart).
   */
  caveat: boolean;
}

const dimensions: readonly Dimension[] = [
  { rate: 'input', tags: ['input'], count: (u) => u.inputTokens, noun: 'input', caveat: false },
  { rate: 'cachedInput', tags: ['input', 'cache read'], count: (u) => u.cachedInputTokens, noun: 'cached-input', caveat: true },
  { rate: 'cacheWrite', tags: ['input', 'cache write'], count: (u) => u.cacheWriteInputTokens, noun: 'cache-write', caveat: true },
  { rate: 'cacheWrite1h', tags: ['input', 'cache write', '1h'], count: (u) => u.detail?.cacheWrite1hInputTokens, noun: '1h cache-write', caveat: true },
  { rate: 'audioInput', tags: ['input', 'audio'], count: (u) => u.detail?.audioInputTokens, noun: 'audio-input', caveat: true },
  { rate: 'cachedAudioInput', tags: ['input', 'audio', 'cache read'], count: (u) => u.detail?.cachedAudioInputTokens, noun: 'cached audio-input', caveat: true },
  { rate: 'imageInput', tags: ['input', 'image'], count: (u) => u.detail?.imageInputTokens, noun: 'image-input', caveat: false },
  { rate: 'cachedImageInput', tags: ['input', 'image', 'cache read'], count: (u) => u.detail?.cachedImageInputTokens, noun: 'cached image-input', caveat: false },
  { rate: 'videoInput', tags: ['input', 'video'], count: (u) => u.detail?.videoInputTokens, noun: 'video-input', caveat: false },
  { rate: 'output', tags: ['output'], count: (u) => u.outputTokens, noun: 'output', caveat: false },
  { rate: 'reasoningOutput', tags: ['output', 'reasoning'], count: (u) => u.reasoningTokens, noun: 'reasoning', caveat: false },
  { rate: 'audioOutput', tags: ['output', 'audio'], count: (u) => u.detail?.audioOutputTokens, noun: 'audio-output', caveat: true },
  { rate: 'imageOutput', tags: ['output', 'image'], count: (u) => u.detail?.imageOutputTokens, noun: 'image-output', caveat: true },
  { rate: 'videoOutput', tags: ['output', 'video'], count: (u) => u.detail?.videoOutputTokens, noun: 'video-output', caveat: true },
  { rate: 'webSearch', tags: ['web search'], count: (u) => u.detail?.webSearches, noun: 'web-search', caveat: true },
];

/** Whether `part` is a strict part of `whole`. */
const isPartOf = (part: Dimension, whole: Dimension) => part !== whole && whole.tags.every((t) => part.tags.includes(t));

/** Dimensions of which `d` is a part, most specific first. */
const containers = new Map(dimensions.map((d) => [d, dimensions.filter((w) => isPartOf(d, w)).sort((a, b) => b.tags.length - a.tags.length)]));

/**
 * Dimensions that are the overlap of two others (cached audio input: the cached input that is
 * audio input), with the dimension both belong to (input).
 */
const overlaps = new Map<Dimension, { of: readonly [Dimension, Dimension]; within: Dimension }>();
for (const d of dimensions) {
  const wholes = containers.get(d)!;
  for (const a of wholes) {
    for (const b of wholes) {
      if (overlaps.has(d) || a === b || isPartOf(a, b) || isPartOf(b, a) || new Set([...a.tags, ...b.tags]).size !== d.tags.length) continue;
      const within = containers.get(a)!.find((w) => isPartOf(b, w));
      if (within) overlaps.set(d, { of: [a, b], within });
    }
  }
}

/**
 * The count of `d`; for an overlap the reply did not report (cached and audio tokens, but not how
 * many of the cached were audio), the least the other counts allow: the dearest reading wherever
 * the overlap is cheaper than its parts, as it is in all the bundled price data.
 */
function countOf(d: Dimension, usage: TokenUsage): number {
  const overlap = overlaps.get(d);
  const count = d.count(usage) ?? (overlap ? countOf(overlap.of[0], usage) + countOf(overlap.of[1], usage) - countOf(overlap.within, usage) : 0);
  // Token counts are whole numbers; a fraction is rounded up rather than let BigInt throw.
  return Number.isFinite(count) && count > 0 ? Math.ceil(count) : 0;
}

interface Step {
  dimension: Dimension;
  rate: bigint;
  output: boolean;
  /** Indexes of the earlier steps whose dimensions are parts of this one. */
  parts: number[];
}

/**
 * The dimensions a set of rates prices, most specific first, each with its priced parts: a step's
 * own share is its count less its priced parts' shares, so every unit is charged once, at the
 * rate of the most specific priced dimension it belongs to (the package's calculation, exactly).
 */
const plans = new WeakMap<Rates, Step[]>();

function planFor(rates: Rates): Step[] {
  let plan = plans.get(rates);
  if (plan) return plan;
  const priced = dimensions.filter((d) => rates[d.rate] !== undefined).sort((a, b) => b.tags.length - a.tags.length);
  plan = priced.map((d) => ({
    dimension: d,
    rate: rates[d.rate]!,
    output: !d.tags.includes('input'),
    parts: priced.flatMap((p, i) => (isPartOf(p, d) ? [i] : [])),
  }));
  plans.set(rates, plan);
  return plan;
}

export interface DimensionCost {
  /** Femto-dollars. Web searches count as output, as per-request fees do. */
  input: bigint;
  output: bigint;
  caveats: string[];
}

/** The cost of `usage` at `rates`, with a caveat for each reported part billed without a rate of its own. */
export function dimensionCost(usage: TokenUsage, rates: Rates): DimensionCost {
  const plan = planFor(rates);
  const shares: bigint[] = [];
  let input = 0n;
  let output = 0n;
  for (let i = 0; i < plan.length; i++) {
    const step = plan[i]!;
    let share = BigInt(countOf(step.dimension, usage));
    for (const j of step.parts) share -= shares[j]!;
    // Counts that contradict each other (more cached than input) charge nothing below zero.
    if (share < 0n) share = 0n;
    shares.push(share);
    if (step.output) output += share * step.rate;
    else input += share * step.rate;
  }
  return { input, output, caveats: caveats(usage, rates) };
}

function caveats(usage: TokenUsage, rates: Rates): string[] {
  const notes: string[] = [];
  for (const d of dimensions) {
    if (!d.caveat || rates[d.rate] !== undefined || !((d.count(usage) ?? 0) > 0)) continue;
    const fallback = containers.get(d)!.find((w) => rates[w.rate] !== undefined);
    notes.push(fallback ? `no ${d.noun} price: ${d.noun} tokens priced as ${fallback.noun}` : `no ${d.noun} price: not charged`);
  }
  for (const [d, { of }] of overlaps) {
    if (rates[d.rate] !== undefined && d.count(usage) === undefined && of.every((p) => (p.count(usage) ?? 0) > 0)) {
      notes.push(`${d.noun} tokens not reported: counted as few as the other counts allow`);
    }
  }
  return notes;
}
