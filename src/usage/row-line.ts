import { usageColumns, type UsageRecord } from './record.ts';

/**
 * Usage rows as they wait (in the recorder's queue and in the journal's files) and travel to PostgreSQL:
 * one line of tab-separated fields in `usageColumns` order, `\N` for NULL, ending in a field `.`
 * so that a line torn by a crash mid-append is told from a whole one. PostgreSQL splits a batch
 * of lines with string_to_table / string_to_array and casts each field: 5 us a row, where
 * json_populate_recordset over the same rows as JSON objects took 40 (bench machine, 10,000-row
 * batches), and a line is less than half the size of the row's JSON.
 *
 * A text field holding a control character (a tab or a newline would split the line), or equal
 * to `\N`, travels as \x01 followed by the value as a JSON string, which the SQL side decodes.
 * PostgreSQL text takes neither NUL nor unpaired surrogates: they become U+FFFD, so such a string
 * costs a character, not the row.
 */

export const NULL = '\\N';
export const END = '.';
const ENCODED = '\u0001';
const controls = /[\u0000-\u001f]/;
const unsafeJson = /\\u0000|\\ud[89a-f]/i;
const FIELDS = usageColumns.length + 1;

const wellFormed = (_key: string, value: unknown) => (typeof value === 'string' ? value.replaceAll('\0', '\ufffd').toWellFormed() : value);

/** JSON text PostgreSQL accepts: without \u0000 or escapes of unpaired surrogates. */
export function json(value: unknown): string {
  const text = JSON.stringify(value);
  return unsafeJson.test(text) ? JSON.stringify(value, wellFormed) : text;
}

function text(v: string): string {
  if (v === NULL || controls.test(v)) return ENCODED + json(v);
  // UTF-8 encoding on the way to the database turns unpaired surrogates into U+FFFD.
  return v;
}

export function labels(list: readonly string[]): string {
  if (list.some((l) => controls.test(l))) return ENCODED + json(list);
  let literal = '{';
  for (let i = 0; i < list.length; i++) literal += `${i ? ',' : ''}"${list[i]!.replace(/["\\]/g, '\\$&')}"`;
  return `${literal}}`;
}

let isoMs = NaN;
let iso = '';
/** Rows of one millisecond share its text: toISOString is half a microsecond a row, and under load several rows a millisecond come. */
export function isoTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== isoMs) {
    iso = d.toISOString();
    isoMs = ms;
  }
  return iso;
}

export const str = (v: string | null | undefined) => (v == null ? NULL : text(v));
export const num = (v: number | null | undefined) => (v == null ? NULL : String(v));

/**
 * Every field read by name, in `usageColumns` order (test/usage/row-line.test.ts holds the two
 * together): a loop over the column names made each read a megamorphic keyed load and each
 * field a dispatch on its column. Fields may be missing from rows of earlier versions' spill files.
 * join() gives one flat string; `+=` would queue a rope of some fifty pieces per row (1.6 KB of
 * cons cells for a 326-byte line) for the garbage collector to trace and promote.
 */
export function rowLine(r: UsageRecord): string {
  const t = r.timestamp as Date | string | null | undefined;
  return [
    str(r.id),
    str(r.request_id),
    str(r.provider_id),
    t == null ? NULL : t instanceof Date ? isoTime(t) : text(t),
    str(r.model),
    str(r.provider),
    str(r.provider_name),
    str(r.endpoint),
    str(r.user_path),
    str(r.cache_type),
    r.labels == null ? NULL : labels(r.labels),
    num(r.input_tokens),
    num(r.output_tokens),
    num(r.total_tokens),
    num(r.uncached_input_tokens),
    num(r.cached_input_tokens),
    num(r.cache_write_input_tokens),
    num(r.reasoning_tokens),
    r.raw_data == null ? NULL : json(r.raw_data),
    str(r.input_cost),
    str(r.output_cost),
    str(r.total_cost),
    str(r.cost_source),
    str(r.costs_calculation_caveat),
    str(r.budget_reservation_id),
    str(r.budget_reserved),
    str(r.auth_key_id),
    str(r.auth_method),
    str(r.requested_model),
    str(r.session_id),
    str(r.saved_cost),
    END,
  ].join('\t');
}

/**
 * The row line of a line of a journal file: a row line as is, a JSON object (spill files of
 * earlier versions, whose rows may lack later columns) converted; null for a torn or unreadable line.
 */
export function journaledRowLine(line: string): string | null {
  if (line.startsWith('{')) {
    try {
      const row: unknown = JSON.parse(line);
      return typeof row === 'object' && row !== null && !Array.isArray(row) ? rowLine(row as UsageRecord) : null;
    } catch {
      return null;
    }
  }
  if (!line.endsWith(`\t${END}`)) return null;
  const fields = line.split('\t').length;
  if (fields === FIELDS) return line;
  // A journal written before usage rows kept a cache hit's saving (one column fewer), named their
  // session (two fewer), their requested model (three) or their key (five): its rows have the
  // columns missing as NULL.
  const missing = FIELDS - fields;
  return missing === 1 || missing === 2 || missing === 3 || missing === 5 ? `${line.slice(0, -END.length)}${`${NULL}\t`.repeat(missing)}${END}` : null;
}

const casts: Partial<Record<(typeof usageColumns)[number], string>> & Record<string, string> = {
  id: 'uuid',
  timestamp: 'timestamptz',
  input_tokens: 'bigint',
  output_tokens: 'bigint',
  total_tokens: 'bigint',
  uncached_input_tokens: 'bigint',
  cached_input_tokens: 'bigint',
  cache_write_input_tokens: 'bigint',
  reasoning_tokens: 'bigint',
  raw_data: 'jsonb',
  input_cost: 'numeric',
  output_cost: 'numeric',
  total_cost: 'numeric',
  budget_reservation_id: 'uuid',
  budget_reserved: 'numeric',
  auth_key_id: 'uuid',
  saved_cost: 'numeric',
};

/**
 * SQL selecting `columns` from a batch of lines bound as `param`, their fields in that order after
 * `skip` leading ones (a kind marker): a text field sent JSON-encoded behind \x01 is decoded, an
 * array column is read as a text[] literal (or a JSON array behind \x01).
 */
export function linesSelect(columns: readonly string[], castOf: Readonly<Record<string, string>>, arrays: readonly string[] = [], skip = 0, param = '$1'): string {
  const exprs = columns.map((column, i) => {
    const f = `f[${i + 1 + skip}]`;
    if (arrays.includes(column)) {
      return `case when ${f} like E'\\x01%' then array(select json_array_elements_text(substr(${f}, 2)::json)) else ${f}::text[] end`;
    }
    const cast = castOf[column];
    return cast ? `${f}::${cast}` : `case when ${f} like E'\\x01%' then substr(${f}, 2)::json #>> '{}' else ${f} end`;
  });
  return `select ${exprs.join(', ')} from string_to_table(${param}::text, E'\\n') as line, string_to_array(line, E'\\t', '\\N') as f`;
}

/** SQL selecting the columns of a batch of row lines bound as `$1`. */
export const rowLinesSelect = linesSelect(usageColumns, casts, ['labels']);
