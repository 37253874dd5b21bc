-- The log's id search matches ids by prefix, case-insensitively, from two B-tree indexes, instead
-- of by substring from a trigram index. With the gateway's ids (36-character request ids, ~38-
-- character provider ids) the trigram index was 60% of the database's CPU per inserted row:
-- 52-55 us a row with it, 19 without, 27-41 with these two (2,000- and 100-row batches). A pasted
-- id, or its beginning, is what an operator searches for.
drop index usage_ids_trgm_idx;

create index usage_request_id_prefix_idx on usage ((lower(request_id) collate "C"));
create index usage_provider_id_prefix_idx on usage ((lower(provider_id) collate "C"));

-- The least string above every string that starts with p, in code-point (collate "C") order:
-- p with its last character incremented. `x >= p and x < gm_prefix_end(p)` is `x starts with p`
-- as a range a B-tree answers, even when p is a parameter. NULL when p is only U+10FFFF
-- characters (nothing is above them): such a search finds no ids.
create function gm_prefix_end(p text) returns text
language plpgsql immutable strict parallel safe as $$
declare
  c int;
begin
  while p <> '' loop
    c := ascii(right(p, 1));
    p := left(p, -1);
    if c < 1114111 then
      -- chr() refuses surrogates: the next character after U+D7FF is U+E000.
      return p || chr(case when c = 55295 then 57344 else c + 1 end);
    end if;
  end loop;
  return null;
end
$$;
