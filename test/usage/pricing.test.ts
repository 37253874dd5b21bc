import * as genaiPrices from '@pydantic/genai-prices';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { formatScaled, parseDecimal, toScaledInteger } from '../../src/usage/decimal.ts';
import { femtoUsd, ratePerMTok } from '../../src/usage/model-price.ts';
import type { PriceFile } from '../../src/usage/price-file.ts';
import { meteredPriceKeys, packageProviderIds, unproducedPriceKeys } from '../../src/usage/package-prices.ts';
import { PriceBook } from '../../src/usage/pricing.ts';

vi.mock('@pydantic/genai-prices', async (importOriginal) => {
  const original = await importOriginal<typeof import('@pydantic/genai-prices')>();
  return { ...original, calcPrice: vi.fn(original.calcPrice) };
});
const calcPrice = vi.mocked(genaiPrices.calcPrice);

/** Rates in femto-dollars per token: USD per million tokens × 1e9. */
const perMTok = (usd: string) => ratePerMTok(usd);
const book = new PriceBook();

describe('exact rates', () => {
  it('parses decimal text and number literals without float arithmetic', () => {
    expect(ratePerMTok('0.15')).toBe(150_000_000n);
    expect(ratePerMTok(0.075)).toBe(75_000_000n);
    expect(ratePerMTok('1e-3')).toBe(1_000_000n);
    expect(ratePerMTok(22.5)).toBe(22_500_000_000n);
    expect(ratePerMTok('0.000000001')).toBe(1n);
    expect(femtoUsd('0.005')).toBe(5_000_000_000_000n);
  });

  it('rejects rates it cannot hold exactly, negative rates and non-numbers', () => {
    expect(() => ratePerMTok('0.0000000001')).toThrow(/decimal places/);
    expect(() => ratePerMTok('-1')).toThrow(/negative/);
    expect(() => ratePerMTok('1.2.3')).toThrow(/not a decimal/);
    expect(() => ratePerMTok(Number.NaN)).toThrow(/finite/);
  });

  it('rounds only when asked, half away from zero', () => {
    expect(toScaledInteger(parseDecimal('0.08333333333333334'), 9, true)).toBe(83_333_333n);
    expect(toScaledInteger(parseDecimal('0.0000000005'), 9, true)).toBe(1n);
  });

  it('formats without exponent or trailing zeros', () => {
    expect(formatScaled(1_500_000_000n, 15)).toBe('0.0000015');
    expect(formatScaled(0n, 15)).toBe('0');
    expect(formatScaled(12_000_000_000_000_000n, 15)).toBe('12');
    expect(formatScaled(-5n, 1)).toBe('-0.5');
  });
});

describe('PriceBook sources', () => {
  it('reads the package data with its model matcher (dated snapshots, aliases)', () => {
    expect(book.lookup('openai', 'openai', 'gpt-4o-2024-08-06')).toMatchObject({
      input: perMTok('2.5'),
      cachedInput: perMTok('1.25'),
      output: perMTok('10'),
      source: '@pydantic/genai-prices: openai/gpt-4o',
    });
    expect(book.lookup('anthropic', 'anthropic', 'claude-sonnet-4-20250514')).toMatchObject({
      input: perMTok('3'),
      cachedInput: perMTok('0.3'),
      cacheWrite: perMTok('3.75'),
      output: perMTok('15'),
    });
  });

  it('maps provider types to the package ids (gemini → google, xai → x-ai)', () => {
    expect(book.lookup('gemini', 'gemini', 'gemini-2.5-flash')?.source).toBe('@pydantic/genai-prices: google/gemini-2.5-flash');
    expect(book.lookup('xai', 'xai', 'grok-4')).toMatchObject({ input: perMTok('3'), cachedInput: perMTok('0.75'), output: perMTok('15') });
  });

  it('accepts the model-id forms APIs use', () => {
    const flash = book.lookup('gemini', 'gemini', 'gemini-2.5-flash');
    expect(book.lookup('gemini', 'gemini', 'models/gemini-2.5-flash')).toEqual(flash);
    const v3p2 = book.lookup('fireworks', 'fireworks', 'accounts/fireworks/models/deepseek-v3p2');
    expect(v3p2).toMatchObject({ input: perMTok('0.56'), cachedInput: perMTok('0.28'), output: perMTok('1.68') });
    expect(book.lookup('fireworks', 'fireworks', 'deepseek-v3p2')).toEqual(v3p2);
    expect(book.lookup('openrouter', 'openrouter', 'anthropic/claude-sonnet-4.5')?.source).toBe(
      '@pydantic/genai-prices: openrouter/anthropic/claude-sonnet-4.5',
    );
    expect(book.lookup('xiaomi', 'xiaomi', 'mimo-v2.5-pro[1m]')).toEqual(book.lookup('xiaomi', 'xiaomi', 'mimo-v2.5-pro'));
  });

  it('turns package tiers into input-size tiers', () => {
    expect(book.lookup('gemini', 'gemini', 'gemini-2.5-pro')?.tiers).toEqual([
      { upToTokens: 200_000, input: perMTok('1.25'), cachedInput: perMTok('0.125'), output: perMTok('10') },
      { upToTokens: Infinity, input: perMTok('2.5'), cachedInput: perMTok('0.25'), output: perMTok('15') },
    ]);
  });

  it('follows the package price schedules by date and time of day', () => {
    // o3 was cut from 10/40 to 2/8 on 2025-06-10
    expect(book.lookup('openai', 'openai', 'o3', new Date('2025-06-09T23:59:59Z'))).toMatchObject({ input: perMTok('10'), output: perMTok('40') });
    expect(book.lookup('openai', 'openai', 'o3', new Date('2025-06-10T00:00:00Z'))).toMatchObject({ input: perMTok('2'), output: perMTok('8') });
    // DeepSeek's standard price applies 00:30–16:30 UTC, the discount otherwise
    expect(book.lookup('deepseek', 'deepseek', 'deepseek-chat', new Date('2026-11-20T00:30:00Z'))?.input).toBe(perMTok('0.27'));
    expect(book.lookup('deepseek', 'deepseek', 'deepseek-chat', new Date('2026-11-20T16:30:00Z'))?.input).toBe(perMTok('0.135'));
  });

  it('fills the package gaps from prices.json, with the entry source', () => {
    expect(book.lookup('bailian', 'bailian', 'qwen-max')).toMatchObject({ input: perMTok('1.6'), output: perMTok('6.4') });
    expect(book.lookup('bailian', 'bailian', 'qwen-max')?.source).toMatch(/^https:\/\/www\.alibabacloud\.com\//);
    expect(book.lookup('zai', 'zai', 'glm-4.6')).toMatchObject({ input: perMTok('0.6'), cachedInput: perMTok('0.11'), output: perMTok('2.2') });
    expect(book.lookup('opencode_go', 'opencode-go', 'kimi-k2.5')).toMatchObject({ input: perMTok('0.6'), output: perMTok('3') });
    // Z.ai models the package has still come from the package
    expect(book.lookup('zai', 'zai', 'glm-5.2')?.source).toBe('@pydantic/genai-prices: zai/GLM-5.2');
  });

  it('prices every Ollama model at zero as local inference', () => {
    expect(book.lookup('ollama', 'ollama', 'qwen3:30b-a3b')).toEqual({ input: 0n, output: 0n, source: 'local inference' });
  });

  it('knows no price for Oracle or an unknown model', () => {
    expect(book.lookup('oracle', 'oci', 'meta.llama-3.3-70b-instruct')).toBeNull();
    expect(book.lookup('openai', 'openai', 'gpt-unknown-9')).toBeNull();
  });
});

describe('PriceBook priority', () => {
  const file: PriceFile = {
    providers: {
      openai: [{ models: ['gpt-4o-mini', 'gpt-4o'], input_per_mtok: '0.11', output_per_mtok: '0.44', source: 'test file', as_of: '2026-11-22' }],
    },
  };
  const prioritised = new PriceBook(
    [
      { model: 'gpt-4o-mini', input_per_mtok: 3, output_per_mtok: 4 },
      { provider: 'openai', model: 'GPT-4o-mini', input_per_mtok: 2, output_per_mtok: 4 },
      { provider: 'openai-east', model: 'gpt-4o-mini', input_per_mtok: '1', output_per_mtok: '4', cached_input_per_mtok: '0.5' },
      { provider: 'ollama', model: 'llama3.3:70b', input_per_mtok: '0.05', output_per_mtok: '0.05' },
    ],
    { priceFile: file },
  );

  it('prefers an override for the provider name, then the type, then any provider', () => {
    expect(prioritised.lookup('openai', 'openai-east', 'gpt-4o-mini')).toEqual({
      input: perMTok('1'),
      output: perMTok('4'),
      cachedInput: perMTok('0.5'),
      source: 'operator override',
    });
    expect(prioritised.lookup('openai', 'openai-west', 'gpt-4o-mini')?.input).toBe(perMTok('2'));
    expect(prioritised.lookup('openrouter', 'openrouter', 'gpt-4o-mini')?.input).toBe(perMTok('3'));
  });

  it('prefers an override to the price file, and the price file to the package', () => {
    expect(prioritised.lookup('openai', 'openai', 'gpt-4o')).toEqual({ input: perMTok('0.11'), output: perMTok('0.44'), source: 'test file' });
    expect(prioritised.lookup('openai', 'openai', 'o4-mini')?.source).toBe('@pydantic/genai-prices: openai/o4-mini');
  });

  it('lets an operator price local inference', () => {
    expect(prioritised.lookup('ollama', 'ollama', 'llama3.3:70b')?.input).toBe(perMTok('0.05'));
  });

  it('rejects bad overrides and price file entries at construction', () => {
    expect(() => new PriceBook([{ model: 'm', input_per_mtok: '-1', output_per_mtok: '1' }])).toThrow(/price override \*\/m: negative/);
    expect(() => new PriceBook([{ provider: 'openai', model: 'm', input_per_mtok: 'cheap', output_per_mtok: '1' }])).toThrow(/openai\/m/);
    const noDate = { providers: { openai: [{ models: ['m'], input_per_mtok: '1', output_per_mtok: '1', source: 's', as_of: '' }] } };
    expect(() => new PriceBook([], { priceFile: noDate })).toThrow(/as_of/);
    const noSource = { providers: { openai: [{ models: ['m'], input_per_mtok: '1', output_per_mtok: '1', source: '', as_of: '2026-01-01' }] } };
    expect(() => new PriceBook([], { priceFile: noSource })).toThrow(/source/);
  });
});

describe('PriceBook cache', () => {
  beforeEach(() => {
    calcPrice.mockClear();
  });

  it('resolves each (type, name, model) once, misses included', () => {
    const cached = new PriceBook();
    const first = cached.lookup('openai', 'openai', 'gpt-4o-mini');
    expect(cached.lookup('openai', 'openai', 'gpt-4o-mini')).toBe(first);
    expect(cached.lookup('openai', 'openai', 'no-such-model')).toBeNull();
    expect(cached.lookup('openai', 'openai', 'no-such-model')).toBeNull();
    const calls = calcPrice.mock.calls.length;
    expect(calls).toBeGreaterThan(0);
    cached.lookup('openai', 'openai', 'gpt-4o-mini');
    cached.lookup('openai', 'openai', 'no-such-model');
    expect(calcPrice.mock.calls.length).toBe(calls);
  });

  it('forgets the oldest look-up beyond its size', () => {
    const small = new PriceBook([], { cacheSize: 2 });
    small.lookup('openai', 'openai', 'gpt-4o-mini');
    small.lookup('openai', 'openai', 'gpt-4o');
    small.lookup('openai', 'openai', 'o4-mini');
    calcPrice.mockClear();
    small.lookup('openai', 'openai', 'o4-mini');
    expect(calcPrice).not.toHaveBeenCalled();
    small.lookup('openai', 'openai', 'gpt-4o-mini');
    expect(calcPrice).toHaveBeenCalled();
  });
});

describe('rates of the package beyond input and output', () => {
  it('reads one-hour cache writes, web searches, audio, image and tiered rates of each', () => {
    // $10 per thousand searches is $0.01 a search: 1e13 femto-dollars.
    expect(book.lookup('anthropic', 'anthropic', 'claude-sonnet-4-5-20250929')).toMatchObject({
      cacheWrite: perMTok('3.75'),
      cacheWrite1h: perMTok('6'),
      webSearch: 10_000_000_000_000n,
      tiers: [
        { upToTokens: 200_000, cacheWrite1h: perMTok('6'), webSearch: 10_000_000_000_000n },
        { upToTokens: Infinity, cacheWrite1h: perMTok('12'), webSearch: 10_000_000_000_000n },
      ],
    });
    expect(book.lookup('openai', 'openai', 'gpt-audio-2025-08-28')).toMatchObject({ audioInput: perMTok('32'), audioOutput: perMTok('64') });
    expect(book.lookup('gemini', 'gemini', 'gemini-2.5-flash')).toMatchObject({ audioInput: perMTok('1'), cachedAudioInput: perMTok('0.1') });
    expect(book.lookup('gemini', 'gemini', 'gemini-2.5-flash-image')).toMatchObject({ imageOutput: perMTok('30') });
  });

  it('completes a price file tier with the base rates it does not change', () => {
    const tiered = new PriceBook([
      { model: 't', input_per_mtok: '1', output_per_mtok: '2', cached_input_per_mtok: '0.1', tiers: [{ up_to_tokens: 1000, input_per_mtok: '1', output_per_mtok: '2' }] },
    ]);
    expect(tiered.lookup('openai', 'openai', 't')?.tiers).toEqual([{ upToTokens: 1000, input: perMTok('1'), output: perMTok('2'), cachedInput: perMTok('0.1') }]);
  });
});

/** Every price entry of every model the package has for the providers we route to. */
function packagePrices() {
  return Object.entries(packageProviderIds).flatMap(([type, id]) =>
    genaiPrices.findProvider({ providerId: id })!.models.flatMap((model) =>
      (Array.isArray(model.prices) ? model.prices.map((p) => p.prices) : [model.prices]).map((prices) => ({ where: `${type}: ${id}/${model.id}`, prices })),
    ),
  );
}

describe('the bundled price data', () => {
  it('has no rate we neither charge nor know our endpoints never produce', () => {
    const unknown = packagePrices().flatMap(({ where, prices }) =>
      Object.keys(prices)
        .filter((key) => prices[key] !== undefined && !meteredPriceKeys.has(key) && !unproducedPriceKeys.has(key))
        .map((key) => `${where} ${key}`),
    );
    expect(unknown).toEqual([]);
  });

  it('prices cached audio and images below the sum of their parts, so counting the least unreported overlap is the dearest reading', () => {
    // With cached audio a of C cached and A audio tokens in I input, the cost moves with a by
    // (cached audio − cached − audio + input) per token: never positive, the least a costs most.
    const base = (v: unknown) => (typeof v === 'number' ? v : (v as { base: number } | undefined)?.base);
    const dearerOverlaps = packagePrices().flatMap(({ where, prices }) =>
      (['audio', 'image'] as const).flatMap((modality) => {
        const [overlap, cached, special, input] = [`cache_${modality}_read_mtok`, 'cache_read_mtok', `input_${modality}_mtok`, 'input_mtok'].map((k) => base(prices[k]));
        if (overlap === undefined || cached === undefined || special === undefined || input === undefined) return [];
        return overlap - cached - special + input > 1e-12 ? [`${where} ${modality}`] : [];
      }),
    );
    expect(dearerOverlaps).toEqual([]);
  });
});
