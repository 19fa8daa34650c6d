import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import * as root from '../../src/index';
import * as layersEntry from '../../src/layers/index';
import { block, classifier, lm, seq2seq, vitConfig } from './configs';
import { exportsOf } from './exports';

/**
 * Unknown option keys (issue 16): every public options, config or args
 * record of attention/, nn/, blocks/, models/, efficiency/, responsible/
 * and layers/ rejects a misspelled key, naming it and the closest valid one.
 */

const OWN_FOLDERS =
  /^src\/(attention|nn|blocks|models|efficiency|responsible|layers|perf)\/|^src\/backends\.ts$/;
/** Parameter names that hold an options-like record. */
const RECORD_PARAMS = new Set(['options', 'config', 'args', 'sizes', 'source']);

/** The block's config as layer args: the layers read dModel from their input. */
const { dModel: _width, ...blockArgs } = block;
const ff: root.FeedForwardConfig = { dModel: 4, hidden: 8, kind: 'mlp', activation: 'relu' };
const moe: root.MixtureOfExpertsConfig = { ...ff, numExperts: 2, topK: 1 };
const privacy = { samplingRate: 0.01, noiseMultiplier: 1 };

/** Adds `typo` to a record (the typo's value is what the real key would take). */
const plus = <T extends object>(record: T, typo: string, value: unknown = 1) =>
  ({ ...record, [typo]: value }) as T;

// Key checks come first in every function, so the other arguments can be
// placeholders: nothing is computed (and nothing allocated) before the throw.
const _ = undefined as never;

type Case = {
  /** `name` for src/index.ts, `layers:name` for src/layers/index.ts. */
  fn: string;
  /** The record's parameter name. */
  param: string;
  call: () => unknown;
  /** The argument the error must name. */
  argument: string;
  /** The valid name it must suggest. */
  suggestion: string;
};
const c = (fn: string, param: string, argument: string, suggestion: string, call: () => unknown) =>
  ({ fn, param, call, argument, suggestion }) satisfies Case;

const CASES: Case[] = [
  // attention/
  c('scaledDotProductAttention', 'options', 'options.casual', 'causal', () =>
    root.scaledDotProductAttention(_, _, _, plus({}, 'casual', true)),
  ),
  c('memoryEfficientAttention', 'options', 'options.chunksize', 'chunkSize', () =>
    root.memoryEfficientAttention(_, _, _, plus({}, 'chunksize', 4)),
  ),
  c('multiHeadAttention', 'options', 'options.contex', 'context', () =>
    root.multiHeadAttention(_, _, _, plus({}, 'contex')),
  ),
  c('multiHeadAttention', 'options', 'options.rope.bse', 'base', () =>
    root.multiHeadAttention(_, _, _, { rope: plus({}, 'bse', 500) }),
  ),
  c('initMultiHeadAttention', 'config', 'config.numKVHead', 'numKvHeads', () =>
    root.initMultiHeadAttention(plus({ dModel: 8, numHeads: 2 }, 'numKVHead', 1), 0),
  ),
  c('multiHeadAttention', 'config', 'config.numHead', 'numHeads', () =>
    root.multiHeadAttention(plus({ dModel: 8, numHeads: 2 }, 'numHead', 2), _, _),
  ),
  c('initAttentionCache', 'config', 'config.numKVHead', 'numKvHeads', () =>
    root.initAttentionCache(plus({ dModel: 8, numHeads: 2 }, 'numKVHead', 1), 1, 4),
  ),
  c('contextAttentionCache', 'config', 'config.numHead', 'numHeads', () =>
    root.contextAttentionCache(plus({ dModel: 8, numHeads: 2 }, 'numHead', 2), _, _),
  ),
  c('applyRotaryEmbedding', 'options', 'options.ofset', 'offset', () =>
    root.applyRotaryEmbedding(_, plus({}, 'ofset', 3)),
  ),
  c('sinusoidalPositionEncoding', 'options', 'options.bas', 'base', () =>
    root.sinusoidalPositionEncoding(4, 4, plus({}, 'bas', 100)),
  ),
  // nn/
  c('gelu', 'options', 'options.aproximate', 'approximate', () =>
    root.gelu(_, plus({}, 'aproximate', 'tanh')),
  ),
  c('layerNorm', 'options', 'options.eps1lon', 'epsilon', () =>
    root.layerNorm(_, _, _, plus({}, 'eps1lon')),
  ),
  c('rmsNorm', 'options', 'options.epsilom', 'epsilon', () =>
    root.rmsNorm(_, _, plus({}, 'epsilom')),
  ),
  c('initLinear', 'config', 'config.usebias', 'useBias', () =>
    root.initLinear(plus({ inFeatures: 2, outFeatures: 2 }, 'usebias', false), 0),
  ),
  c('linear', 'config', 'config.outFeature', 'outFeatures', () =>
    root.linear(plus({ inFeatures: 2, outFeatures: 2 }, 'outFeature', 2), _, _),
  ),
  c('embed', 'config', 'config.embeddingDims', 'embeddingDim', () =>
    root.embed(plus({ numEmbeddings: 2, embeddingDim: 2 }, 'embeddingDims', 2), _, _),
  ),
  c('positionEmbedding', 'config', 'config.numEmbedding', 'numEmbeddings', () =>
    root.positionEmbedding(plus({ numEmbeddings: 2, embeddingDim: 2 }, 'numEmbedding', 2), _, 1),
  ),
  c('tiedOutputProjection', 'config', 'config.stdd', 'std', () =>
    root.tiedOutputProjection(plus({ numEmbeddings: 2, embeddingDim: 2 }, 'stdd', 0.1), _, _),
  ),
  c('tokenAndPositionEmbedding', 'config', 'config.dmodel', 'dModel', () =>
    root.tokenAndPositionEmbedding(
      plus({ vocabSize: 2, maxLength: 2, dModel: 2 }, 'dmodel', 2),
      _,
      _,
    ),
  ),
  c('initEmbedding', 'config', 'config.stdd', 'std', () =>
    root.initEmbedding(plus({ numEmbeddings: 2, embeddingDim: 2 }, 'stdd', 0.1), 0),
  ),
  c('initTokenAndPositionEmbedding', 'config', 'config.maxLenght', 'maxLength', () =>
    root.initTokenAndPositionEmbedding(
      plus({ vocabSize: 2, maxLength: 2, dModel: 2 }, 'maxLenght'),
      0,
    ),
  ),
  c('positionEmbedding', 'options', 'options.offest', 'offset', () =>
    root.positionEmbedding(_, _, 2, plus({}, 'offest')),
  ),
  c('tokenAndPositionEmbedding', 'options', 'options.offsett', 'offset', () =>
    root.tokenAndPositionEmbedding(_, _, _, plus({}, 'offsett')),
  ),
  c('initFeedForward', 'config', 'config.activaton', 'activation', () =>
    root.initFeedForward(plus(ff, 'activaton', 'gelu'), 0),
  ),
  c('feedForward', 'config', 'config.hiden', 'hidden', () =>
    root.feedForward(plus(ff, 'hiden', 8), _, _),
  ),
  c('initMixtureOfExperts', 'config', 'config.numExpert', 'numExperts', () =>
    root.initMixtureOfExperts(plus(moe, 'numExpert', 2), 0),
  ),
  c('mixtureOfExperts', 'config', 'config.topk', 'topK', () =>
    root.mixtureOfExperts(plus(moe, 'topk', 1), _, _),
  ),
  c('initNorm', 'config', 'config.epsilin', 'epsilon', () =>
    root.initNorm(plus({ kind: 'rms', dModel: 4 }, 'epsilin', 1e-6)),
  ),
  c('applyNorm', 'config', 'config.knd', 'kind', () =>
    root.applyNorm(plus({ kind: 'rms', dModel: 4 }, 'knd', 'rms'), _, _),
  ),
  c('initPatchEmbedding', 'config', 'config.channel', 'channels', () =>
    root.initPatchEmbedding(plus({ patchSize: 2, channels: 1, dModel: 2 }, 'channel'), 0),
  ),
  c('patchEmbedding', 'config', 'config.patchsize', 'patchSize', () =>
    root.patchEmbedding(plus({ patchSize: 2, channels: 1, dModel: 2 }, 'patchsize', 2), _, _),
  ),
  // blocks/
  c('initTransformerEncoderBlock', 'config', 'config.normPositon', 'normPosition', () =>
    root.initTransformerEncoderBlock(plus(block, 'normPositon', 'post'), 0),
  ),
  c('initTransformerEncoderBlock', 'config', 'config.norm.epsilo', 'epsilon', () =>
    root.initTransformerEncoderBlock({ ...block, norm: plus(block.norm, 'epsilo', 1e-6) }, 0),
  ),
  c('initTransformerEncoderBlock', 'config', 'config.feedForward.hiddn', 'hidden', () =>
    root.initTransformerEncoderBlock(
      { ...block, feedForward: plus(block.feedForward, 'hiddn', 8) },
      0,
    ),
  ),
  c('initTransformerEncoderBlock', 'config', 'config.rope.bas', 'base', () =>
    root.initTransformerEncoderBlock({ ...block, rope: plus({}, 'bas', 100) }, 0),
  ),
  c('initTransformerDecoderBlock', 'config', 'config.numKvHead', 'numKvHeads', () =>
    root.initTransformerDecoderBlock(plus(block, 'numKvHead'), 0),
  ),
  c(
    'initTransformerDecoderBlock',
    'options',
    'options.withCrossAtention',
    'withCrossAttention',
    () => root.initTransformerDecoderBlock(block, 0, plus({}, 'withCrossAtention', true)),
  ),
  c('transformerEncoderBlock', 'options', 'options.trainig', 'training', () =>
    root.transformerEncoderBlock(block, _, _, plus({}, 'trainig', true)),
  ),
  c('transformerEncoderBlock', 'config', 'config.alibii', 'alibi', () =>
    root.transformerEncoderBlock(plus(block, 'alibii', true), _, _),
  ),
  c('transformerDecoderBlock', 'options', 'options.contextMsk', 'contextMask', () =>
    root.transformerDecoderBlock(block, _, _, plus({}, 'contextMsk')),
  ),
  c('transformerDecoderBlock', 'config', 'config.dropoutRat', 'dropoutRate', () =>
    root.transformerDecoderBlock(plus(block, 'dropoutRat', 0.1), _, _),
  ),
  // models/
  c('gpt2Config', 'sizes', 'sizes.numLayer', 'numLayers', () =>
    root.gpt2Config(
      plus({ vocabSize: 10, maxLength: 8, dModel: 8, numLayers: 1, numHeads: 2 }, 'numLayer'),
    ),
  ),
  c('llamaConfig', 'sizes', 'sizes.ropeBse', 'ropeBase', () =>
    root.llamaConfig(
      plus(
        { vocabSize: 10, maxLength: 8, dModel: 8, numLayers: 1, numHeads: 2, hidden: 8 },
        'ropeBse',
      ),
    ),
  ),
  c('bertConfig', 'sizes', 'sizes.polling', 'pooling', () =>
    root.bertConfig(
      plus(
        { vocabSize: 10, maxLength: 8, dModel: 8, numLayers: 1, numHeads: 2, numClasses: 2 },
        'polling',
        'mean',
      ),
    ),
  ),
  c('initDecoderLm', 'config', 'config.tieEmbedding', 'tieEmbeddings', () =>
    root.initDecoderLm(plus(lm, 'tieEmbedding', false), 0),
  ),
  c('initDecoderLm', 'config', 'config.block.numHead', 'numHeads', () =>
    root.initDecoderLm({ ...lm, block: plus(lm.block, 'numHead', 2) }, 0),
  ),
  c('decoderLm', 'options', 'options.paddingMsk', 'paddingMask', () =>
    root.decoderLm(lm, _, _, plus({}, 'paddingMsk')),
  ),
  c('decoderLm', 'config', 'config.maxLenght', 'maxLength', () =>
    root.decoderLm(plus(lm, 'maxLenght', 8), _, _),
  ),
  c('initEncoderClassifier', 'config', 'config.numClass', 'numClasses', () =>
    root.initEncoderClassifier(plus(classifier, 'numClass', 2), 0),
  ),
  c('encoderClassifier', 'options', 'options.sed', 'seed', () =>
    root.encoderClassifier(classifier, _, _, plus({}, 'sed')),
  ),
  c('encoderHiddenStates', 'options', 'options.tokenTypeId', 'tokenTypeIds', () =>
    root.encoderHiddenStates(classifier, _, _, plus({}, 'tokenTypeId')),
  ),
  c('encoderHiddenStates', 'config', 'config.typeVocabSiz', 'typeVocabSize', () =>
    root.encoderHiddenStates(plus(classifier, 'typeVocabSiz', 2), _, _),
  ),
  c('encoderClassifier', 'config', 'config.block.feedForward.kinds', 'kind', () =>
    root.encoderClassifier(
      {
        ...classifier,
        block: { ...classifier.block, feedForward: plus(block.feedForward, 'kinds') },
      },
      _,
      _,
    ),
  ),
  c('initEncoderDecoder', 'config', 'config.numEncoderLayer', 'numEncoderLayers', () =>
    root.initEncoderDecoder(plus(seq2seq, 'numEncoderLayer'), 0),
  ),
  c('runEncoder', 'options', 'options.sourceMsk', 'sourceMask', () =>
    root.runEncoder(seq2seq, _, _, plus({}, 'sourceMsk')),
  ),
  c('runEncoder', 'config', 'config.numDecoderLayer', 'numDecoderLayers', () =>
    root.runEncoder(plus(seq2seq, 'numDecoderLayer'), _, _),
  ),
  c('runDecoder', 'options', 'options.trainng', 'training', () =>
    root.runDecoder(seq2seq, _, _, _, plus({}, 'trainng', true)),
  ),
  c('runDecoder', 'config', 'config.tieEmbedings', 'tieEmbeddings', () =>
    root.runDecoder(plus(seq2seq, 'tieEmbedings', false), _, _, _),
  ),
  c('encoderDecoder', 'options', 'options.sourcemask', 'sourceMask', () =>
    root.encoderDecoder(seq2seq, _, _, _, plus({}, 'sourcemask')),
  ),
  c('encoderDecoder', 'config', 'config.maxLenght', 'maxLength', () =>
    root.encoderDecoder(plus(seq2seq, 'maxLenght', 8), _, _, _),
  ),
  c('initVit', 'config', 'config.patchsize', 'patchSize', () =>
    root.initVit(plus(vitConfig, 'patchsize', 2), 0),
  ),
  c('vit', 'options', 'options.traning', 'training', () =>
    root.vit(vitConfig, _, _, plus({}, 'traning', true)),
  ),
  c('vit', 'config', 'config.dropoutrate', 'dropoutRate', () =>
    root.vit(plus(vitConfig, 'dropoutrate', 0.1), _, _),
  ),
  // efficiency/
  c('modelCost', 'options', 'options.contxt', 'context', () =>
    root.modelCost(lm, plus({}, 'contxt', 8)),
  ),
  c('modelCost', 'config', 'config.positons', 'positions', () =>
    root.modelCost(plus(lm, 'positons', 'rope')),
  ),
  c('energyEstimate', 'options', 'options.wats', 'watts', () =>
    root.energyEstimate({ stepSeconds: 1, tokensPerStep: 1 }, plus({ watts: 1 }, 'wats')),
  ),
  c('energyEstimate', 'source', 'source.peakFlop', 'peakFlops', () =>
    root.energyEstimate(plus({ flopsPerToken: 1, peakFlops: 1 }, 'peakFlop'), { watts: 1 }),
  ),
  c('energyEstimate', 'source', 'source.tokensPerSteps', 'tokensPerStep', () =>
    root.energyEstimate(plus({ stepSeconds: 1, tokensPerStep: 1 }, 'tokensPerSteps'), { watts: 1 }),
  ),
  c('createRunLedger', 'options', 'options.gridIntensty', 'gridIntensity', () =>
    root.createRunLedger(plus({ flopsPerToken: 1 }, 'gridIntensty')),
  ),
  c('createRunLedger', 'options', 'options.power.wats', 'watts', () =>
    root.createRunLedger({ flopsPerToken: 1, power: plus({ watts: 1 }, 'wats') }),
  ),
  c('magnitudePruningMasks', 'options', 'options.scop', 'scope', () =>
    root.magnitudePruningMasks({}, plus({ sparsity: 0.5 }, 'scop', 'global')),
  ),
  c('nmSparsityMask', 'options', 'options.M', 'm', () =>
    root.nmSparsityMask(_, plus({ n: 2, m: 4 }, 'M', 4)),
  ),
  c('polynomialSparsitySchedule', 'options', 'options.endstep', 'endStep', () =>
    root.polynomialSparsitySchedule(plus({ finalSparsity: 0.5, endStep: 10 }, 'endstep', 10)),
  ),
  c('quantizeWeights', 'options', 'options.bit', 'bits', () =>
    root.quantizeWeights(_, plus({}, 'bit', 4)),
  ),
  c('quantizeParams', 'options', 'options.groupsize', 'groupSize', () =>
    root.quantizeParams({}, plus({}, 'groupsize', 16)),
  ),
  // pretrained/: loadPretrained's quantize option is quantizeParams' options, checked before any fetch.
  c('loadPretrained', 'options', 'options.quantize.groupsize', 'groupSize', () =>
    root.loadPretrained(async () => new Response('', { status: 404 }), {
      quantize: plus({}, 'groupsize', 16),
    }),
  ),
  c('quantizedLinear', 'config', 'config.inFeature', 'inFeatures', () =>
    root.quantizedLinear(plus({ inFeatures: 2, outFeatures: 2 }, 'inFeature', 2), _, _),
  ),
  // responsible/
  c('differentiallyPrivateAggregate', 'options', 'options.l2NormClipp', 'l2NormClip', () =>
    root.differentiallyPrivateAggregate(
      plus({ l2NormClip: 1, noiseMultiplier: 1, seed: 0 }, 'l2NormClipp'),
    ),
  ),
  c('dpSgd', 'options', 'options.nestrov', 'nesterov', () =>
    root.dpSgd(
      plus({ l2NormClip: 1, noiseMultiplier: 1, seed: 0, learningRate: 0.1 }, 'nestrov', true),
    ),
  ),
  c('perExampleGradients', 'options', 'options.microbatchsize', 'microbatchSize', () =>
    root.perExampleGradients(_, _, _, plus({}, 'microbatchsize', 2)),
  ),
  c('rdpOfSubsampledGaussian', 'options', 'options.order', 'orders', () =>
    root.rdpOfSubsampledGaussian(plus(privacy, 'order', [2])),
  ),
  c('computeDpSgdEpsilon', 'options', 'options.step', 'steps', () =>
    root.computeDpSgdEpsilon(plus({ ...privacy, steps: 10, delta: 1e-5 }, 'step', 10)),
  ),
  c('computeDpSgdEpsilonForEpochs', 'options', 'options.epoch', 'epochs', () =>
    root.computeDpSgdEpsilonForEpochs(
      plus(
        { datasetSize: 100, batchSize: 10, epochs: 1, noiseMultiplier: 1, delta: 1e-5 },
        'epoch',
      ),
    ),
  ),
  c('noiseMultiplierForEpsilon', 'options', 'options.targetEpsilom', 'targetEpsilon', () =>
    root.noiseMultiplierForEpsilon(
      plus({ targetEpsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 10 }, 'targetEpsilom'),
    ),
  ),
  c('stepsForEpsilon', 'options', 'options.maxStep', 'maxSteps', () =>
    root.stepsForEpsilon(plus({ ...privacy, targetEpsilon: 1, delta: 1e-5 }, 'maxStep', 10)),
  ),
  c('rdpAccountant', 'options', 'options.delt', 'delta', () =>
    root.rdpAccountant(plus({ ...privacy, delta: 1e-5 }, 'delt', 1e-5)),
  ),
  c('privateDeltaAverage', 'options', 'options.expectedClient', 'expectedClients', () =>
    root.privateDeltaAverage(
      _,
      _,
      plus(
        { l2NormClip: 1, noiseMultiplier: 1, expectedClients: 1, seed: 0, round: 0 },
        'expectedClient',
      ),
    ),
  ),
  c(
    'dpFederatedAveragingRound',
    'options',
    'options.serverLearningrate',
    'serverLearningRate',
    () =>
      root.dpFederatedAveragingRound(
        _,
        _,
        plus(
          { l2NormClip: 1, noiseMultiplier: 1, expectedClients: 1, seed: 0, round: 0 },
          'serverLearningrate',
        ),
      ),
  ),
  c('sampleClients', 'options', 'options.rounds', 'round', () =>
    root.sampleClients(10, 0.5, plus({ seed: 0, round: 0 }, 'rounds', 0)),
  ),
  c('computeDpFederatedEpsilon', 'options', 'options.round', 'rounds', () =>
    root.computeDpFederatedEpsilon(
      plus(
        { rounds: 1, expectedClients: 1, totalClients: 10, noiseMultiplier: 1, delta: 1e-5 },
        'round',
      ),
    ),
  ),
  ...(
    [
      [
        'groupConfusionMetrics',
        (o: root.FairnessOptions) => root.groupConfusionMetrics([1, 0], [1, 0], ['a', 'b'], o),
      ],
      [
        'demographicParityDifference',
        (o: root.FairnessOptions) => root.demographicParityDifference([1, 0], ['a', 'b'], o),
      ],
      [
        'demographicParityRatio',
        (o: root.FairnessOptions) => root.demographicParityRatio([1, 0], ['a', 'b'], o),
      ],
      [
        'equalizedOddsDifference',
        (o: root.FairnessOptions) => root.equalizedOddsDifference([1, 0], [1, 0], ['a', 'b'], o),
      ],
      [
        'equalizedOddsRatio',
        (o: root.FairnessOptions) => root.equalizedOddsRatio([1, 0], [1, 0], ['a', 'b'], o),
      ],
      [
        'equalOpportunityDifference',
        (o: root.FairnessOptions) => root.equalOpportunityDifference([1, 0], [1, 0], ['a', 'b'], o),
      ],
      [
        'equalOpportunityRatio',
        (o: root.FairnessOptions) => root.equalOpportunityRatio([1, 0], [1, 0], ['a', 'b'], o),
      ],
    ] as const
  ).map(([fn, call]) =>
    c(fn, 'options', 'options.group', 'groups', () => call(plus({}, 'group', ['a', 'b']))),
  ),
  c('reweighing', 'options', 'options.sampleWeights', 'sampleWeight', () =>
    root.reweighing(_, _, plus({}, 'sampleWeights', [1, 1])),
  ),
  c('groupThresholds', 'options', 'options.constraints', 'constraint', () =>
    root.groupThresholds(_, _, _, plus({}, 'constraints', 'equalizedOdds')),
  ),
  c('exponentiatedGradient', 'options', 'options.epsilom', 'epsilon', () =>
    root.exponentiatedGradient(_, _, _, plus({ fit: () => () => [] }, 'epsilom', 0.1)),
  ),
  // perf/: the key check runs before anything is registered.
  c('enableWasmFastKernels', 'options', 'options.packedWeight', 'packedWeights', () =>
    root.enableWasmFastKernels(plus({}, 'packedWeight', 'cached')),
  ),

  ...(() => {
    const lm = root.gpt2Config({
      vocabSize: 256,
      maxLength: 16,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
    });
    const probe = { templates: ['The {group}', 'A {group}'], groups: { a: ['x'], b: ['y'] } };
    return [
      c('biasProbe', 'options', 'options.template', 'templates', () =>
        root.biasProbe(lm, _, new root.ByteTokenizer(), plus(probe, 'template', [])),
      ),
      c('biasProbe', 'config', 'config.numLayer', 'numLayers', () =>
        root.biasProbe(plus(lm, 'numLayer', 1), _, new root.ByteTokenizer(), probe),
      ),
    ];
  })(),

  c('modelCard', 'options', 'options.licence', 'license', () =>
    root.modelCard(plus({ name: 'm' }, 'licence', 'mit')),
  ),
  // layers/ (factories and classes)
  ...(
    [
      ['feedForward', 'FeedForward', { hidden: 8 }, 'hiden', 'hidden'],
      ['mixtureOfExperts', 'MixtureOfExperts', { hidden: 8, numExperts: 2 }, 'topk', 'topK'],
      ['multiHeadAttention', 'MultiHeadAttention', { numHeads: 2 }, 'casual', 'causal'],
      ['patchEmbedding', 'PatchEmbedding', { patchSize: 2, dModel: 4 }, 'patchsize', 'patchSize'],
      ['positionEmbedding', 'PositionEmbedding', { maxLength: 4 }, 'maxLenght', 'maxLength'],
      ['rmsNormalization', 'RMSNormalization', {}, 'epsilom', 'epsilon'],
      [
        'tokenAndPositionEmbedding',
        'TokenAndPositionEmbedding',
        { vocabSize: 4, maxLength: 4, dModel: 4 },
        'vocabsize',
        'vocabSize',
      ],
      [
        'transformerEncoderBlock',
        'TransformerEncoderBlock',
        blockArgs,
        'normPositon',
        'normPosition',
      ],
      [
        'transformerDecoderBlock',
        'TransformerDecoderBlock',
        blockArgs,
        'crossAtention',
        'crossAttention',
      ],
    ] as const
  ).flatMap(([factory, cls, args, typo, suggestion]) => {
    const own = args as Record<string, unknown>;
    const entry = layersEntry as unknown as Record<string, unknown>;
    const make = entry[factory] as (a: unknown) => unknown;
    const Ctor = entry[cls] as new (a: unknown) => unknown;
    return [
      c(`layers:${factory}`, 'args', `args.${typo}`, suggestion, () => make(plus(own, typo))),
      c(`layers:${cls}`, 'args', `args.${typo}`, suggestion, () => new Ctor(plus(own, typo))),
    ];
  }),
  c(
    'layers:MultiHeadAttention',
    'args',
    'args.rope.offst',
    'offset',
    () => new layersEntry.MultiHeadAttention({ numHeads: 2, rope: plus({}, 'offst', 1) }),
  ),
  c(
    'layers:TransformerEncoderBlock',
    'args',
    'args.feedForward.activaton',
    'activation',
    () =>
      new layersEntry.TransformerEncoderBlock({
        ...blockArgs,
        feedForward: plus(block.feedForward, 'activaton', 'relu'),
      }),
  ),
  // The learning-rate callbacks live in layers/ and are exported by the root and /layers.
  ...(['', 'layers:'] as const).flatMap((entry) => {
    const from = (entry === '' ? root : layersEntry) as typeof layersEntry;
    const constant = () => 0.1;
    return [
      c(`${entry}learningRateScheduler`, 'options', 'options.perbatch', 'perBatch', () =>
        from.learningRateScheduler(constant, plus({}, 'perbatch', true)),
      ),
      c(`${entry}LearningRateScheduler`, 'options', 'options.perbatch', 'perBatch', () => {
        new from.LearningRateScheduler(constant, plus({}, 'perbatch', true));
      }),
      c(`${entry}reduceLearningRateOnPlateau`, 'options', 'options.patiance', 'patience', () =>
        from.reduceLearningRateOnPlateau(plus({}, 'patiance', 2)),
      ),
      c(`${entry}ReduceLearningRateOnPlateau`, 'options', 'options.patiance', 'patience', () => {
        new from.ReduceLearningRateOnPlateau(plus({}, 'patiance', 2));
      }),
    ];
  }),
];

describe('unknown option keys are rejected with the closest valid name', () => {
  for (const k of CASES) {
    it(`${k.fn}: ${k.argument} → '${k.suggestion}'`, async () => {
      const before = tf.memory().numTensors;
      let thrown: unknown;
      try {
        // An async export (biasProbe) rejects instead of throwing.
        const out = k.call();
        tf.dispose((out instanceof Promise ? await out : out) as tf.TensorContainer);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, 'the call did not throw').toBeInstanceOf(root.TfjsBlocksError);
      const error = thrown as root.TfjsBlocksError;
      expect(error.argument).toBe(k.argument);
      expect(error.expected).toContain(`did you mean '${k.suggestion}'?`);
      expect(error.message).toContain(k.argument);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('the fairness metrics reject an unknown option (fairlearn has no sampleWeights) instead of ignoring it', () => {
    const call = () =>
      root.demographicParityDifference([1, 0], ['a', 'b'], {
        sampleWeights: [1, 2],
      } as root.FairnessOptions);
    expect(call).toThrow(root.TfjsBlocksError);
    expect(call).toThrow(/options\.sampleWeights must be one of the known options/);
  });

  it('the layers accept what getConfig wrote back through fromConfig (customObjects included)', () => {
    const layer = new layersEntry.TransformerDecoderBlock({
      ...blockArgs,
      crossAttention: true,
      name: 'dec',
      trainable: false,
      inputShape: [4, 8],
    });
    const config = { ...layer.getConfig(), customObjects: {} };
    const copy = layersEntry.TransformerDecoderBlock.fromConfig(
      layersEntry.TransformerDecoderBlock,
      config,
    );
    expect(copy.getConfig()).toEqual(layer.getConfig());
  });

  it('covers every exported function and class of its folders that takes an options record', () => {
    const covered = new Set(CASES.map((k) => `${k.fn}(${k.param})`));
    const expected = [
      ...exportsOf('src/index.ts').map((e) => ({ ...e, key: e.name })),
      ...exportsOf('src/layers/index.ts').map((e) => ({ ...e, key: `layers:${e.name}` })),
    ]
      .filter((e) => OWN_FOLDERS.test(e.module) && e.kind !== 'const')
      .flatMap((e) => e.params.filter((p) => RECORD_PARAMS.has(p)).map((p) => `${e.key}(${p})`));
    expect(expected.length).toBeGreaterThan(60);
    expect(expected.filter((k) => !covered.has(k))).toEqual([]);
  });
});
