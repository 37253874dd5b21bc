import type { IncomingHttpHeaders } from 'node:http';
import type { TaggingRule } from '../config.ts';
import { GatewayError, invalidRequest } from '../errors.ts';
import { anonymous, type AuthMethod, type Caller } from './caller.ts';
import { normalizeUserPath } from '../user-path.ts';

export interface Attribution {
  /** Normalised user path; `/` when the request names none. */
  userPath: string;
  labels: string[];
  authMethod: AuthMethod;
  /** The managed key of an `api_key` request. */
  authKeyId: string | null;
  /** The session the request named in a session header; null when none, or when its value was not a plausible id. */
  sessionId: string | null;
}

const MAX_LABELS = 64;
const MAX_LABEL_LENGTH = 128;

const headerValue = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** The session headers the original gateway reads, in the order it prefers them. */
const SESSION_HEADERS = ['x-session-id', 'x-claude-code-session-id', 'session-id'] as const;
/** Ids as clients make them (UUIDs, ULIDs, base64 tokens, `name:n`): bounded, and harmless in a log line or a query. */
const SESSION_ID = /^[A-Za-z0-9._:@+=/-]{1,256}$/;

/**
 * The first session header present decides; a value that is not a plausible id (too long, spaces,
 * control characters) leaves the request without a session rather than failing it: the header is
 * correlation metadata, not a request parameter.
 */
function sessionIdOf(headers: IncomingHttpHeaders): string | null {
  for (const name of SESSION_HEADERS) {
    const value = headerValue(headers, name);
    if (value === undefined) continue;
    const id = value.trim();
    return SESSION_ID.test(id) ? id : null;
  }
  return null;
}

const within = (path: string, root: string) => root === '/' || path === root || path.startsWith(`${root}/`);

/**
 * Who a request is attributed to: the user-path header, the labels of the tagging headers and the
 * session header. A managed key binds the request to its user path: the header may only narrow it
 * to a path inside the key's subtree (anything else is 403 `user_path_forbidden`), and the key's
 * labels come first.
 */
export function createAttribution(userPathHeader: string, rules: readonly TaggingRule[]): (headers: IncomingHttpHeaders, caller?: Caller) => Attribution {
  const header = userPathHeader.toLowerCase();
  return (headers, caller = anonymous) => {
    const { key } = caller;
    let userPath = key ? key.userPath : '/';
    const raw = headerValue(headers, header);
    if (raw !== undefined) {
      let named: string | null;
      try {
        named = normalizeUserPath(raw);
      } catch (err) {
        throw invalidRequest(`invalid ${userPathHeader} header: ${(err as Error).message}`, userPathHeader);
      }
      if (named !== null) {
        if (key && !within(named, key.userPath)) {
          throw new GatewayError('invalid_request_error', 403, `this API key is bound to ${key.userPath}: ${userPathHeader} may only name a path inside it, not ${named}`, {
            code: 'user_path_forbidden',
            param: userPathHeader,
          });
        }
        userPath = named;
      }
    }
    const who = {
      userPath,
      labels: key?.labels.length ? [...key.labels] : [],
      authMethod: caller.method,
      authKeyId: key?.id ?? null,
      sessionId: sessionIdOf(headers),
    };
    if (rules.length === 0) return who;
    const labels = new Set<string>(key?.labels);
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
    who.labels = [...labels];
    return who;
  };
}
