/** The data pipeline: samples and mini-batches, data sets, transformers and file readers. */
export { Sample, MiniBatch, SampleToMiniBatch, type PaddingOptions, type SampleToMiniBatchOptions } from './sample.js';
export { DataSet, type FromIterableOptions } from './dataset.js';
export {
  StepTransformer, chain, map, mapAsync, type EpochContext, type Stepper, type Transformer,
} from './transformer.js';
export {
  Normalize, Standardize, computeMeanStd, RandomCrop, CenterCrop, HFlip, hflip, crop,
  type TensorOrSample, type MeanStd, type MeanStdOptions,
} from './transforms.js';
export { epochGenerator } from './seed.js';
export {
  readIdx, parseIdx, readIdxImageSet, loadFashionMnist, imageSamples, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES,
  type IdxArray, type IdxData, type IdxType, type ImageSplit, type ImageSplits,
} from './idx.js';
export {
  readCsv, readCsvRows, CsvReader, CsvError, CsvTokenizer, type CsvRecord, type CsvOptions, type CsvStats, type CsvType, type CsvValue,
} from './csv.js';
export { readLines, type ReadLinesOptions } from './text.js';
