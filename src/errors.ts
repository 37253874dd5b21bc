/** The closed set of error types of the contract (`core.ErrorType`). */
export type ErrorType =
  | 'provider_error'
  | 'rate_limit_error'
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error';

export interface GatewayErrorOptions {
  param?: string | null;
  code?: string | null;
  /** Configured provider name, for errors that come from a provider. */
  provider?: string;
  /** Whether retrying the same upstream call may succeed. */
  retryable?: boolean;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
  /** The underlying error or upstream body. Kept for logs at debug level; never sent to clients. */
  cause?: unknown;
}

/** The one error type handlers throw; the HTTP layer renders it in the dialect of the route. */
export class GatewayError extends Error {
  readonly param: string | null;
  readonly code: string | null;
  readonly provider: string | undefined;
  readonly retryable: boolean;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly type: ErrorType,
    readonly status: number,
    message: string,
    opts: GatewayErrorOptions = {},
  ) {
    super(message, { cause: opts.cause });
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.provider = opts.provider;
    this.retryable = opts.retryable ?? false;
    this.headers = opts.headers;
  }
}

export const invalidRequest = (message: string, param?: string | null, code?: string | null) =>
  new GatewayError('invalid_request_error', 400, message, { param, code });

export const notFound = (message: string, code?: string, param?: string) =>
  new GatewayError('not_found_error', 404, message, { code, param });

/** Start-up cannot go on for a reason the operator can fix; its message is the one line they see. */
export class StartupError extends Error {}
