-- Virtual models made through the admin API (those of config.yaml and VIRTUAL_MODELS live only in
-- memory and win over a row of the same source). A row with targets redirects its source to them
-- (`targets` is a JSON array of {model, provider?, weight}); a row without is an access policy on
-- the models its source selects. Every change is announced on the channel `gomodel_virtual_models`
-- so every replica reloads the (small) table at once and resolves from memory.

create table virtual_models (
  source      text primary key check (source <> ''),
  targets     jsonb not null default '[]' check (jsonb_typeof(targets) = 'array'),
  strategy    text not null default 'round_robin' check (strategy in ('round_robin', 'weighted', 'cost')),
  user_paths  text[] not null default '{}',
  description text not null default '',
  enabled     boolean not null default true,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
