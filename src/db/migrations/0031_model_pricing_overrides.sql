-- Prices set through the admin API (PUT /admin/model-pricing-overrides), one per selector: '/'
-- (every model), 'provider/' (a provider instance's or type's models), 'model' (that model at any
-- provider) or 'provider/model'. `pricing` holds the USD fields as the API took them. Every change
-- is announced on `gomodel_pricing_overrides`, so every replica reloads the (small) table and
-- prices the next row with it.

create table model_pricing_overrides (
  selector      text primary key check (selector <> ''),
  scope_kind    text not null check (scope_kind in ('global', 'provider', 'model', 'provider_model')),
  provider_name text not null default '',
  model         text not null default '',
  pricing       jsonb not null check (jsonb_typeof(pricing) = 'object'),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
