/** TensorBoard summaries: event files, their reader, and BigDL's TrainSummary / ValidationSummary. */
export { crc32c, maskCrc, unmaskCrc, maskedCrc32c } from './crc32c.js';
export { EventWriter, AppendFile, encodeEvent, frameRecord, eventFileName, FILE_VERSION } from './event-writer.js';
export type { Event, SummaryValue, EventWriterOptions } from './event-writer.js';
export { readRecords, decodeEvent, readEventFile, listEventFiles, readScalars } from './event-reader.js';
export type { RecordsRead } from './event-reader.js';
export { Summary, TrainSummary, ValidationSummary, TRAIN_SUMMARY_NAMES } from './summary.js';
export type { SummaryOptions, TrainSummaryName } from './summary.js';
