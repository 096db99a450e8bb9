import type { Quality, Quantity } from '../domain/quantities.js';

/** One reading as plugins write it. `ts` is the interval start (UTC, ms since epoch or a Date). */
export interface ReadingInput {
  meterId: string;
  quantity: Quantity;
  unit: string;
  ts: number | Date;
  value: number;
  /** Interval length in seconds (0 for an instantaneous sample). */
  resolutionS: number;
  quality?: Quality;
  partyId?: string;
  assetId?: string;
}

/** What a series is: one meter, one quantity, one resolution (unit and owner ride along). */
export interface SeriesKey {
  meterId: string;
  quantity: Quantity;
  resolutionS: number;
}

export interface SeriesInfo extends SeriesKey {
  seriesId: number;
  unit: string;
  partyId: string | null;
  assetId: string | null;
}

/** What to do when a reading for the same series and instant is already stored. */
export type ConflictPolicy = 'replace' | 'ignore' | 'error';

export interface WriteResult {
  /** Readings accepted in this call (new plus replaced). */
  written: number;
  /** Readings that met an existing reading (or a twin in the same batch). */
  duplicates: number;
}

/** Columnar values of one series over a range, ordered by time. */
export interface SeriesValues extends SeriesInfo {
  ts: Float64Array;
  values: Float64Array;
  quality: Uint8Array;
}

export interface RangeQuery {
  meterIds: readonly string[];
  quantity: Quantity;
  /** Only series of this resolution (all resolutions when omitted). */
  resolutionS?: number;
  /** Half-open range [from, to). */
  from: number | Date;
  to: number | Date;
}

/** The time-series store for meter readings: batched writes and range reads. */
export interface TimeSeriesStore {
  /** Validates the whole batch first (nothing is written if any reading is invalid), then writes it. */
  write(readings: readonly ReadingInput[], opts?: { onConflict?: ConflictPolicy }): Promise<WriteResult>;
  /** Columnar write for one series (bulk import). */
  writeSeries(
    key: SeriesKey & { unit: string; partyId?: string; assetId?: string },
    ts: ArrayLike<number>,
    values: ArrayLike<number>,
    opts?: { onConflict?: ConflictPolicy; quality?: ArrayLike<number> },
  ): Promise<WriteResult>;
  read(q: RangeQuery): Promise<SeriesValues[]>;
  listSeries(filter?: { meterId?: string; quantity?: Quantity }): Promise<SeriesInfo[]>;
  /** Deletes readings of the given meters in [from, to); returns how many. */
  deleteRange(q: RangeQuery): Promise<number>;
  count(filter?: { meterId?: string }): Promise<number>;
}
