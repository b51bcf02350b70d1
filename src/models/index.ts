/** The model zoo: builders for BigDL's published models, each returning a Module. */
export { LeNet5 } from './lenet.js';
export { Vgg16, Vgg19, type VggOptions } from './vgg.js';
export { ResNet, ResNet50, type ResNetOptions, type ShortcutType } from './resnet.js';
export { InceptionV1, InceptionLayerV1, InceptionV1WithAux, type InceptionV1Options, type InceptionConfig } from './inception.js';
export { NeuralCF, type NeuralCFOptions } from './neural-cf.js';
export { TextClassifier, type TextClassifierOptions } from './text-classifier.js';
export { Seq2seq, Seq2seqLSTM, type Seq2seqOptions } from './seq2seq.js';
export { ConvLSTMNowcast, type ConvLSTMNowcastOptions } from './conv-lstm-nowcast.js';
