/** What other plugins may use of meter-data: parsing, resampling, and their types. */
export { ReadingsParser, splitCsv, type Issue, type IssueKind, type ImportOptions, type ParseResult, type ParsedSeries } from './parse.js';
export { resampleSeries, parseResolution, RESOLUTIONS_S } from './resample.js';
export { MeterDataErrors } from './errors.js';
