import type { GatewayError } from '../errors.ts';
import type { NativeApi, SseEvent, TokenUsage } from '../providers/types.ts';

export type Obj = Record<string, unknown>;

/** Writes an internal stream out as an ingress API's events; created per request. */
export interface StreamEncoder {
  /** Events for one internal chunk ('' when it adds nothing the client sees yet). */
  chunk(chunk: Obj): string;
  /** The closing events, carrying the usage. */
  end(usage: TokenUsage | undefined): string;
  /** The API's error event, for a stream that fails after it began. */
  fail(err: GatewayError): string;
}

/** What a relayed (native) reply or stream says about usage. */
export interface NativeResult {
  usage: TokenUsage | null;
  /** The provider's id of the response or message. */
  id: string;
  model: string;
}

/** Reads the usage of a relayed stream as its events pass; the events themselves go on unchanged. */
export interface NativeStreamObserver {
  /** `error` is the provider's error event as an error reply (status and body) for its adapter to map. */
  event(ev: SseEvent): { usage?: TokenUsage; error?: { status: number; body: string }; done?: boolean };
  readonly id: string;
  readonly model: string;
}

/**
 * An ingress API other than chat completions, met by translation at the edge: its requests become
 * chat completions requests (the internal shape) and chat completions replies and chunks become
 * its replies and events. With a provider that serves the API natively the request is relayed
 * instead, and `nativeResult`/`nativeStream` read the usage off the provider's own reply.
 */
export interface IngressApi {
  readonly name: NativeApi;
  /** The endpoint usage rows carry. */
  readonly endpoint: string;
  /** The request as a chat completions request; throws a 400 for what cannot be translated. */
  toChat(body: Obj): Obj;
  /** The request's `max_tokens`-like bound on output, for budget reservations. */
  maxOutputTokens(body: Obj): number | undefined;
  /** A `chat.completion` as the API's reply object. */
  fromChat(completion: Obj, usage: TokenUsage | null, request: Obj): Obj;
  /** An encoder of the internal stream into the API's typed events. */
  encoder(request: Obj): StreamEncoder;
  nativeResult(json: unknown, fallbackModel: string): NativeResult;
  nativeStream(fallbackModel: string): NativeStreamObserver;
}
