import type { IncomingHttpHeaders } from 'node:http';
import type { TaggingRule } from '../config.ts';
import { invalidRequest } from '../errors.ts';
import { normalizeUserPath } from '../user-path.ts';

export interface Attribution {
  /** Normalised user path; `/` when the request names none. */
  userPath: string;
  labels: string[];
}

const MAX_LABELS = 64;
const MAX_LABEL_LENGTH = 128;

const headerValue = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** Who a request is attributed to: the user-path header and the labels of the tagging headers. */
export function createAttribution(userPathHeader: string, rules: readonly TaggingRule[]): (headers: IncomingHttpHeaders) => Attribution {
  const key = userPathHeader.toLowerCase();
  return (headers) => {
    let userPath = '/';
    const raw = headerValue(headers, key);
    if (raw !== undefined) {
      try {
        userPath = normalizeUserPath(raw) ?? '/';
      } catch (err) {
        throw invalidRequest(`invalid ${userPathHeader} header: ${(err as Error).message}`, userPathHeader);
      }
    }
    if (rules.length === 0) return { userPath, labels: [] };
    const labels = new Set<string>();
    for (const rule of rules) {
      const value = headerValue(headers, rule.header);
      if (!value) continue;
      for (const part of value.split(rule.delimiter)) {
        let label = part.trim();
        if (rule.prefix && label.startsWith(rule.prefix)) label = label.slice(rule.prefix.length).trim();
        if (!label) continue;
        if (label.length > MAX_LABEL_LENGTH || /[\u0000-\u001f\u007f]/.test(label)) {
          throw invalidRequest(`invalid label in ${rule.header} header: labels are at most ${MAX_LABEL_LENGTH} printable characters`, rule.header);
        }
        labels.add(label);
      }
    }
    if (labels.size > MAX_LABELS) throw invalidRequest(`a request may carry at most ${MAX_LABELS} labels`, rules[0]!.header);
    return { userPath, labels: [...labels] };
  };
}
