/**
 * Makes the generated fetch client work under Deno with per-call options. An SDK function passes
 * its options on to the client, the per-call `client` (a hey-api Client) included, and the client
 * spreads them into the RequestInit of `new Request(url, init)`. Deno reads RequestInit's `client`
 * as a Deno.HttpClient and throws "Argument 2 `client` must be a Deno.HttpClient"; Node ignores the
 * key. So the spread is followed by `...{ client: undefined }`. (The client's SSE methods spread
 * options too, but no SDK function of openapi.json calls them.) If the generator's output no longer
 * has that shape this throws, so a generator upgrade is looked at rather than left unfixed.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const note = "// Deno reads `client` as a Deno.HttpClient; the SDK's per-call client must not reach it (codegen/deno-client.ts).";

const file = 'generated/client/client.gen.ts';
const spread = "      redirect: 'follow',\n      ...opts,\n";

export function keepSdkClientOutOfRequestInit(): void {
  const source = readFileSync(file, 'utf8');
  const at = source.indexOf(spread);
  if (at < 0 || source.indexOf(spread, at + 1) >= 0) {
    throw new Error(`codegen/deno-client.ts: ${file} no longer spreads its options into one RequestInit as expected`);
  }
  writeFileSync(file, source.replace(spread, `${spread}      ${note}\n      ...{ client: undefined },\n`));
}
