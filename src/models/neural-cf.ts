import { Graph, Input } from '../nn/graph.js';
import { Select } from '../nn/shape-layers.js';
import { LookupTable } from '../nn/lookup-table.js';
import { CMulTable, JoinTable } from '../nn/tables.js';
import { Linear } from '../nn/linear.js';
import { LogSoftMax, ReLU, Sigmoid } from '../nn/activations.js';
import type { ModuleNode } from '../nn/node.js';
import { requirePositiveInt } from './util.js';

export interface NeuralCFOptions {
  /** number of users: user ids are 0 … userCount-1 */
  userCount: number;
  /** number of items: item ids are 0 … itemCount-1 */
  itemCount: number;
  /** number of classes (e.g. 5 rating levels); must be 1 with output 'sigmoid' (default 2, or 1 for 'sigmoid') */
  numClasses?: number;
  /** MLP user embedding size (default 20) */
  userEmbed?: number;
  /** MLP item embedding size (default 20) */
  itemEmbed?: number;
  /** units of the MLP tower's hidden layers, each Linear + ReLU (default [40, 20, 10]) */
  hiddenLayers?: readonly number[];
  /** the generalized matrix factorization (GMF) branch (default true) */
  includeMF?: boolean;
  /** GMF embedding size (default 20) */
  mfEmbed?: number;
  /**
   * 'logsoftmax' (BigDL's NeuralCF, explicit feedback as classes: train with ClassNLLCriterion)
   * or 'sigmoid' (NeuMF for implicit feedback, He et al. 2017: one probability per pair, train
   * with BCECriterion). Default 'logsoftmax'.
   */
  output?: 'logsoftmax' | 'sigmoid';
}

/**
 * Neural collaborative filtering (He et al. 2017, "NeuMF"), after BigDL's NeuralCF:
 *
 *   input [batch, 2] of (user, item) 0-based ids, float32 or int32
 *   MLP:  concat(userTable(u), itemTable(i)) → (Linear + ReLU) per hidden layer
 *   GMF:  mfUserTable(u) ∘ mfItemTable(i)     (elementwise product; with includeMF)
 *   concat(MLP, GMF) → Linear(→ numClasses) → LogSoftMax   (or → Linear(→ 1) → Sigmoid)
 *
 * Ids are 0-based, so the tables have userCount and itemCount rows (BigDL's 1-based version
 * needs count + 1). Parameters:
 *   userCount·userEmbed + itemCount·itemEmbed
 *   + Σ_k (in_k + 1)·hidden_k  with in_0 = userEmbed + itemEmbed, in_k = hidden_{k-1}
 *   + [includeMF] (userCount + itemCount)·mfEmbed
 *   + (hidden_last + [includeMF]·mfEmbed + 1)·numClasses
 * The embedding tables start N(0, 1) (BigDL's Embedding init "normal").
 */
export function NeuralCF(opts: NeuralCFOptions): Graph {
  const { userCount, itemCount } = opts;
  const output = opts.output ?? 'logsoftmax';
  const numClasses = opts.numClasses ?? (output === 'sigmoid' ? 1 : 2);
  const userEmbed = opts.userEmbed ?? 20, itemEmbed = opts.itemEmbed ?? 20, mfEmbed = opts.mfEmbed ?? 20;
  const hiddenLayers = opts.hiddenLayers ?? [40, 20, 10];
  const includeMF = opts.includeMF ?? true;
  for (const [k, v] of Object.entries({ userCount, itemCount, numClasses, userEmbed, itemEmbed, mfEmbed })) requirePositiveInt('NeuralCF', k, v);
  if (!Array.isArray(hiddenLayers) || hiddenLayers.length === 0) throw new RangeError('NeuralCF: hiddenLayers must be a non-empty list of positive integers');
  hiddenLayers.forEach((h, k) => requirePositiveInt('NeuralCF', `hiddenLayers[${k}]`, h));
  if (output !== 'logsoftmax' && output !== 'sigmoid') throw new RangeError(`NeuralCF: output must be 'logsoftmax' or 'sigmoid', got ${String(output)}`);
  if (output === 'sigmoid' && numClasses !== 1) throw new RangeError(`NeuralCF: the sigmoid output predicts one probability; numClasses must be 1, got ${numClasses}`);

  const input = Input('userItem');
  const user = new Select(1, 0).setName('user').inputs(input);
  const item = new Select(1, 1).setName('item').inputs(input);

  const mlpUser = new LookupTable(userCount, userEmbed).setName('mlpUserTable').inputs(user);
  const mlpItem = new LookupTable(itemCount, itemEmbed).setName('mlpItemTable').inputs(item);
  let mlp: ModuleNode = new JoinTable(1).setName('mlpEmbedded').inputs(mlpUser, mlpItem);
  let width = userEmbed + itemEmbed;
  hiddenLayers.forEach((h, k) => {
    mlp = new ReLU().inputs(new Linear(width, h).setName(`mlpLinear${k}`).inputs(mlp));
    width = h;
  });

  let top = mlp;
  if (includeMF) {
    const mfUser = new LookupTable(userCount, mfEmbed).setName('mfUserTable').inputs(user);
    const mfItem = new LookupTable(itemCount, mfEmbed).setName('mfItemTable').inputs(item);
    const mf = new CMulTable().setName('mfEmbedded').inputs(mfUser, mfItem);
    top = new JoinTable(1).setName('concat').inputs(mlp, mf);
    width += mfEmbed;
  }
  const logits = new Linear(width, numClasses).setName('linearLast').inputs(top);
  const out = output === 'sigmoid' ? new Sigmoid().inputs(logits) : new LogSoftMax().inputs(logits);
  return new Graph(input, out).setName('NeuralCF');
}
