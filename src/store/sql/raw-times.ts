/**
 * The times of raw account rows, as a query() gave them, made the ISO strings the tool shows: moved character by
 * character from utcTextSql's text in the usual case, the rare ones (infinity, BC, year 10000 on) read as pg's own
 * parser reads them, and the rows read again with isoSql when the session's DateStyle is not ISO. Used by the
 * reader (reader.ts) for every page and lookup.
 */
import type { RawRow } from './batches.js';
import { isoFromUtcText, isTextTime, RARE_TIME, TIME_FIELDS, utcTextAsZoned } from './mapping.js';

/** Every time field, as the keys of an object row. */
export const TIME_LIST: ReadonlyArray<string | number> = [...TIME_FIELDS];

/**
 * Raw account rows, with any time isoSql left as the database's text (infinity, BC, year 10000 on: rare) read
 * as pg's own parser reads it, into the ISO string, or kept as text where no Date holds it (iso() shows null).
 * The parser is loaded only when such a time is there.
 */
export async function readTextTimes(rows: RawRow[], times: ReadonlyArray<string | number> = TIME_LIST): Promise<RawRow[]> {
  if (!rows.some((r) => times.some((k) => isTextTime(r[k])))) return rows;
  const { isoFromText } = await import('../../db/pg-time.js');
  for (const r of rows) {
    for (const k of times) {
      const v = r[k];
      if (isTextTime(v)) r[k] = isoFromText(v);
    }
  }
  return rows;
}

/**
 * Raw account rows whose times came as utcTextSql's text, with every time made the ISO string (in place), the
 * rare ones through pg's parser as readTextTimes reads them; false (rows untouched in part) when a time is in no
 * ISO layout: the session's DateStyle is not ISO, and the rows must be read again with isoSql.
 */
export async function readUtcTimes(rows: RawRow[], times: ReadonlyArray<string | number> = TIME_LIST): Promise<boolean> {
  let rare: Array<[RawRow, string | number]> | undefined;
  for (const r of rows) {
    for (const k of times) {
      const v = r[k];
      if (typeof v !== 'string') continue; // absent, null, or a Date should a driver give one (normaliseAccount reads it)
      const iso = isoFromUtcText(v);
      if (iso === undefined) return false;
      if (iso === 'slow') (rare ??= []).push([r, k]);
      else r[k] = iso;
    }
  }
  if (rare) {
    const { isoFromText } = await import('../../db/pg-time.js');
    for (const [r, k] of rare) r[k] = isoFromText(utcTextAsZoned(r[k] as string));
  }
  return true;
}

/** Makes one shape of a raw row: `utc`, its times are utcTextSql's text (else already ISO strings or null). */
// `any`: an object row or an array row, as the reader selected it (normaliseAccount, normaliseListed).
export type Normalise<T> = (row: any, utc: boolean) => T;

/**
 * Raw rows of a query() (times as UTC text) as `normalise` makes them. Usually in one pass that moves each
 * time's characters into its ISO string; when a time is not that plain (infinity, BC, year 10000 on) the
 * times are read first (readUtcTimes), and when one is in no ISO layout at all (the session's DateStyle is not
 * ISO) the rows are selected again by `exact` with the database formatting every time (isoSql).
 */
export async function normaliseRows<T>(raw: RawRow[], normalise: Normalise<T>, exact: () => PromiseLike<unknown>, times = TIME_LIST): Promise<T[]> {
  try {
    return raw.map((r) => normalise(r, true));
  } catch (err) {
    if (err !== RARE_TIME) throw err;
  }
  if (await readUtcTimes(raw, times)) return raw.map((r) => normalise(r, false));
  return (await readTextTimes((await exact()) as RawRow[], times)).map((r) => normalise(r, false));
}
