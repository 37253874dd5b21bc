/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Shapes of provider credentials, for keys the gateway was not configured with (a provider quoting
 * another key, a key in a URL). Formats as the providers issue them: OpenAI `sk-…`/`sk-proj-…`,
 * Anthropic `sk-ant-api03-…`, OpenRouter `sk-or-v1-…`, DeepSeek and DashScope `sk-<32 hex>`,
 * Google `AIza…`, Groq `gsk_…`, xAI `xai-…`, Fireworks `fw_…`, MiniMax JWTs. Each starts with a
 * literal, so a line holding none costs a quick scan (0.2 µs for an access-log line); shapes
 * without one (Z.ai's `<32 hex>.<secret>`) cost ten times that and are left to the configured keys.
 */
const tokenShapes = [
  String.raw`\b[Bb]earer\s+[A-Za-z0-9._~+/-]{8,}=*`,
  String.raw`\b(?:sk|rk)-[A-Za-z0-9_*-]{20,}`,
  String.raw`\bAIza[A-Za-z0-9_-]{30,}`,
  String.raw`\b(?:gsk|fw)_[A-Za-z0-9]{20,}`,
  String.raw`\bxai-[A-Za-z0-9]{20,}`,
  String.raw`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`,
  // Gemini and others take the key as a query parameter: the name is kept (group 1).
  String.raw`([?&](?:key|api_key|api-key|access_token)=)[^&#\s"'\\]+`,
];

/**
 * Values shorter than this are not treated as secrets: placeholders such as `ollama` would
 * otherwise blank every mention of the word, and a real key is never this short.
 */
export const MIN_SECRET_LENGTH = 8;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces every configured secret (provider keys, the master key) and anything shaped like a
 * provider credential or bearer token. Built once at start; used on provider error bodies before
 * they reach a client and on every log line before it is written. Successful replies never pass
 * through it.
 */
export class Redactor {
  private pattern!: RegExp;
  private readonly literals = new Set<string>();

  constructor(secrets: Iterable<string | null | undefined>) {
    this.add(secrets);
  }

  /** Scrubs these secrets too from now on (provider keys configured through the admin API). */
  add(secrets: Iterable<string | null | undefined>): void {
    const known = this.literals.size;
    for (const s of secrets) {
      if (!s || s.length < MIN_SECRET_LENGTH) continue;
      this.literals.add(s);
      // As it appears inside a JSON string (a log line), should it hold a quote or a backslash.
      this.literals.add(JSON.stringify(s).slice(1, -1));
    }
    if (this.pattern && this.literals.size === known) return;
    const alternatives = [...this.literals].sort((a, b) => b.length - a.length).map(escape);
    this.pattern = new RegExp([...alternatives, ...tokenShapes].join('|'), 'g');
  }

  scrub(text: string): string {
    return text.replace(this.pattern, `$1${REDACTED}`);
  }
}
