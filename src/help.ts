/** What `gomodel-ts --help` prints: how to start it and the settings a first run needs. */
export const usage = `gomodel-ts: an OpenAI-compatible AI gateway that records every request's tokens and cost in PostgreSQL.

Usage: npm start            (or: node dist/src/main.js)
       npm start -- --help  (this text)

Every setting is an environment variable; the main ones:
  PORT=8080                   HTTP port (0 picks a free one)
  GOMODEL_MASTER_KEY          admin key clients send as "Authorization: Bearer <key>" (unset: open to anyone
                              until the first managed key is created at /admin/auth-keys)
  POSTGRES_URL                PostgreSQL to use (unset: an embedded PostgreSQL with its data in GOMODEL_DATA_DIR)
  GOMODEL_DATA_DIR=./data     embedded PostgreSQL data and usage journal
  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...
                              enable a provider (<TYPE>_BASE_URL points it elsewhere, <TYPE>_MODELS lists models,
                              <TYPE>_API_KEY_2, _3... add keys that requests take in turn)
  GOMODEL_CREDENTIALS_KEY     32 bytes (openssl rand -base64 32) sealing provider keys stored at /admin/provider-credentials
  GOMODEL_CONFIG              YAML file with providers, tagging, pricing, budgets, rate limits, virtual models and failover
  GOMODEL_WORKERS=1           gateway processes sharing the port ("auto": one per CPU)
  LOG_LEVEL=info              fatal, error, warn, info, debug, trace or silent

Once started: the OpenAI API at http://localhost:$PORT/v1, the dashboard at http://localhost:$PORT/admin/dashboard.
Every setting, the providers and the admin API: README.md.
`;
