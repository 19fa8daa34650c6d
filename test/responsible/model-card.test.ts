import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { countParameters, modelCost } from '../../src/efficiency/cost';
import { createRunLedger } from '../../src/efficiency/run-ledger';
import { gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { type ModelCardOptions, modelCard } from '../../src/responsible/model-card';
import { thrownWithoutLeak } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 96, maxLength: 32, dModel: 16, numLayers: 2, numHeads: 2 });

/** A card with every section, figures chosen to exercise the formatting. */
const full: ModelCardOptions = {
  name: 'char-gpt "demo"',
  summary: 'A tiny character-level GPT.',
  config,
  context: 16,
  license: 'apache-2.0',
  tags: ['text-generation'],
  language: ['en'],
  datasets: ['tiny-shakespeare'],
  trainingData: 'Forty thousand characters of Shakespeare.',
  trainingProcedure: 'Adam, 300 steps.',
  intendedUse: 'Demonstrations.',
  outOfScopeUse: 'Anything that matters.',
  limitations: 'Memorises its corpus.',
  evaluation: [{ name: 'perplexity', value: 4.123456, interval: [3.9, 4.4], dataset: 'held out' }],
  fairness: {
    sensitiveFeature: 'sender | domain',
    metrics: [
      { name: 'demographic_parity_difference', value: 0.05, interval: [0.01, 0.09], level: 0.9 },
    ],
    groups: [
      { group: 'a', count: 1200, rates: { selectionRate: 0.25 } },
      { group: 'b', count: 30, rates: { selectionRate: 1 / 3 } },
    ],
  },
  privacy: { epsilon: 2.5, delta: 1e-5, noiseMultiplier: 1.1, samplingRate: 0.01 },
  run: {
    wallSeconds: 5400,
    tokens: 1_234_567,
    flops: 3.2e15,
    energyJoules: 7.2e6,
    energySource: 'estimated',
    co2Grams: 950,
    gridGramsPerKwh: 475,
    hardware: '2-core CPU',
    trainingType: 'pre-training',
  },
  compression: [{ method: 'int8 weights', metric: 'perplexity', before: 4.12, after: 4.2 }],
};

describe('modelCard', () => {
  it('writes Hugging Face front matter that is valid YAML (fixed expected text)', () => {
    const { markdown } = modelCard(full);
    const front = markdown.slice(0, markdown.indexOf('\n---\n') + 4);
    expect(front).toBe(
      [
        '---',
        'license: "apache-2.0"',
        'library_name: "tfjs-blocks"',
        'language:',
        '- "en"',
        'tags:',
        '- "tfjs-blocks"',
        '- "text-generation"',
        'datasets:',
        '- "tiny-shakespeare"',
        'metrics:',
        '- "perplexity"',
        '- "demographic_parity_difference"',
        'co2_eq_emissions:',
        '  emissions: 950',
        '  source: "tfjs-blocks run ledger (energy estimated)"',
        '  training_type: "pre-training"',
        '  hardware_used: "2-core CPU"',
        '---',
      ].join('\n'),
    );
  });

  it('front matter lines are all YAML mappings, list items or nested mappings with JSON scalars', () => {
    const { markdown } = modelCard({ ...full, tags: ['a: b', 'quote " and \\ and\nnewline'] });
    const lines = markdown.split('\n');
    expect(lines[0]).toBe('---');
    const end = lines.indexOf('---', 1);
    expect(end).toBeGreaterThan(1);
    for (const line of lines.slice(1, end)) {
      const m = /^(?:(?: {2})?[a-z_0-9]+:(?: (.+))?|- (.+))$/.exec(line);
      expect(m, line).not.toBeNull();
      const scalar = m![1] ?? m![2];
      if (scalar !== undefined) expect(() => JSON.parse(scalar), line).not.toThrow();
    }
    // the tricky tag round-trips through its JSON (= YAML double-quoted) form
    expect(lines).toContain(`- ${JSON.stringify('quote " and \\ and\nnewline')}`);
  });

  it('counts parameters and FLOPs with modelCost and countParameters', () => {
    const params = initDecoderLm(config, 0);
    const before = tf.memory().numTensors;
    const { json, markdown } = modelCard({ ...full, params });
    expect(tf.memory().numTensors).toBe(before);
    const cost = modelCost(config, { context: 16 });
    expect(json.parameters).toEqual(cost.parameters);
    expect(json.parameters?.total).toBe(countParameters(params));
    expect(json.flopsPerToken).toEqual({ ...cost.flopsPerToken, context: 16 });
    expect(markdown).toContain(
      `- **Parameters:** ${cost.parameters.total.toLocaleString('en-US')}`,
    );
    tf.dispose(params as never);
  });

  it('params alone give the size; the FLOPs need a config', () => {
    const params = { w: tf.zeros([100, 20]) };
    const { json, markdown } = modelCard({ name: 'm', params });
    expect(json.parameters).toEqual({ total: 2000 });
    expect(json.flopsPerToken).toBeUndefined();
    expect(markdown).toContain('- **Parameters:** 2,000');
    expect(markdown).not.toContain('FLOPs per token');
    tf.dispose(params.w);
  });

  it('formats numbers: thousands separators, 4 significant digits, SI units, intervals', () => {
    const { markdown } = modelCard(full);
    expect(markdown).toContain('| perplexity | 4.123 (95% CI 3.9 – 4.4) | held out |');
    expect(markdown).toContain('0.05 (90% CI 0.01 – 0.09)');
    expect(markdown).toContain('| b | 30 | 0.3333 |');
    expect(markdown).toContain('| a | 1,200 | 0.25 |');
    expect(markdown).toContain('- **Tokens:** 1,234,567');
    expect(markdown).toContain('- **Compute:** 3.2 PFLOP');
    expect(markdown).toContain('- **Energy:** 2 kWh (estimated from a power profile)');
    expect(markdown).toContain('- **Wall time:** 1.5 hours (5,400 s)');
    expect(markdown).toContain('(ε, δ) = (2.5, 1.000e-5)');
    expect(markdown).toContain('| int8 weights | perplexity | 4.12 | 4.2 | +0.08 (+1.94%) |  |');
    expect(markdown).toContain('Sensitive feature: sender | domain.');
  });

  it('escapes pipes in table cells and never prints NaN, Infinity or undefined', () => {
    const { markdown } = modelCard({
      ...full,
      fairness: { ...full.fairness!, groups: [{ group: 'x|y', count: 0 }] },
    });
    expect(markdown).toContain('| x\\|y | 0 |');
    expect(markdown).not.toMatch(/NaN|Infinity|undefined|null/);
  });

  it('has the template sections in order when every fact is given', () => {
    const headings = modelCard(full)
      .markdown.split('\n')
      .filter((l) => l.startsWith('#'));
    expect(headings).toEqual([
      '# Model Card for char-gpt "demo"',
      '## Model Details',
      '### Model Description',
      '## Uses',
      '### Direct Use',
      '### Out-of-Scope Use',
      '## Bias, Risks, and Limitations',
      '## Training Details',
      '### Training Data',
      '### Training Procedure',
      '#### Privacy',
      '## Evaluation',
      '### Results',
      '### Fairness',
      '## Compression',
      '## Environmental Impact',
      '## Technical Specifications',
      '### Model Architecture and Objective',
      '### Compute',
    ]);
  });

  it('leaves out every section whose data were not given', () => {
    const { markdown, json } = modelCard({ name: 'bare' });
    expect(markdown).toBe(
      [
        '---',
        'library_name: "tfjs-blocks"',
        'tags:',
        '- "tfjs-blocks"',
        '---',
        '',
        '# Model Card for bare',
        '',
        '## Model Details',
        '',
        '### Model Description',
        '',
        '- **Library:** [tfjs-blocks](https://github.com/tfjs-blocks/tfjs-blocks)',
        '',
      ].join('\n'),
    );
    expect(json).toEqual({ card: { name: 'bare', tags: ['tfjs-blocks'] } });
  });

  it.each([
    ['privacy', '#### Privacy'],
    ['fairness', '### Fairness'],
    ['run', '## Environmental Impact'],
    ['compression', '## Compression'],
    ['evaluation', '### Results'],
    ['limitations', '## Bias, Risks, and Limitations'],
    ['trainingData', '### Training Data'],
    ['intendedUse', '### Direct Use'],
    ['config', '### Model Architecture and Objective'],
  ] as const)('shows the %s section only when it is given', (key, heading) => {
    const without: ModelCardOptions = { ...full };
    delete without[key];
    if (key === 'config') delete without.context;
    expect(modelCard(full).markdown).toContain(`\n${heading}\n`);
    expect(modelCard(without).markdown).not.toContain(`\n${heading}\n`);
  });

  it('takes a fairness metric with its bootstrap interval as the metrics return it', () => {
    const ci = {
      value: 0.2,
      interval: [0.22, 0.4] as [number, number],
      level: 0.9,
      nBoot: 500,
      standardError: 0.05,
      undefinedResamples: 0,
    };
    const { markdown } = modelCard({
      name: 'm',
      fairness: { sensitiveFeature: 's', metrics: [{ name: 'dp', ...ci }] },
    });
    expect(markdown).toContain('| dp | 0.2 (90% CI 0.22 – 0.4, 500 bootstrap resamples) |  |');
  });

  it('takes a run ledger: its training totals, labelled estimated, and its power profile', () => {
    const ledger = createRunLedger({
      model: config,
      power: { watts: 30, device: 'laptop' },
      gridIntensity: 300,
    });
    ledger.record({ kind: 'training', tokens: 1000, seconds: 120 });
    ledger.record({ kind: 'training', tokens: 1000, seconds: 120 });
    ledger.record({ kind: 'inference', tokens: 50, seconds: 1 });
    const { json, markdown } = modelCard({ name: 'm', ledger });
    const t = ledger.report().training;
    expect(json.card.run).toEqual({
      wallSeconds: 240,
      tokens: 2000,
      flops: t.flops.value,
      energyJoules: 30 * 240,
      energySource: 'estimated',
      co2Grams: t.co2Grams.value,
      gridGramsPerKwh: 300,
      hardware: 'laptop, 30 W power profile',
    });
    expect(t.flops.value).toBeGreaterThan(0);
    expect(markdown).toContain('- **Energy:** 0.002 kWh (estimated from a power profile)');
    expect(markdown).toContain('source: "tfjs-blocks run ledger (energy estimated)"');
    expect(JSON.stringify(json)).not.toContain('report');
  });

  it('an empty ledger gives zeros, not NaN', () => {
    const { markdown } = modelCard({ name: 'm', ledger: createRunLedger({ flopsPerToken: 10 }) });
    expect(markdown).toContain('- **Tokens:** 0');
    expect(markdown).not.toMatch(/NaN|Infinity|undefined/);
  });

  it('a mixed energy figure is labelled as such', () => {
    const { markdown } = modelCard({
      name: 'm',
      run: { wallSeconds: 1, tokens: 1, energyJoules: 3.6e6, energySource: 'mixed' },
    });
    expect(markdown).toContain(
      '- **Energy:** 1 kWh (partly measured, partly estimated from a power profile)',
    );
  });

  it('co2_eq_emissions needs a CO₂ figure; a measured energy says so', () => {
    const { markdown } = modelCard({
      name: 'm',
      run: { wallSeconds: 10, tokens: 5, energyJoules: 36, energySource: 'measured' },
    });
    expect(markdown).not.toContain('co2_eq_emissions');
    expect(markdown).toContain('- **Energy:** 1.000e-5 kWh (measured)');
    expect(markdown).toContain('- **Wall time:** 10 s\n');
  });

  it('accepts fineTune privacy reports and JSON round-trips its data', () => {
    const report = { epsilon: 7.9, delta: 1e-5, noiseMultiplier: 0.8, samplingRate: 0.02 };
    const { json } = modelCard({ name: 'm', privacy: report });
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      card: { name: 'm', tags: ['tfjs-blocks'], privacy: report },
    });
  });
});

describe('modelCard rejects bad input with typed errors', () => {
  const cases: [string, () => unknown, string][] = [
    ['no options', () => modelCard(undefined as never), 'options'],
    ['no name', () => modelCard({} as never), 'options.name'],
    ['empty name', () => modelCard({ name: ' ' }), 'options.name'],
    ['unknown option', () => modelCard({ name: 'm', licence: 'x' } as never), 'options.licence'],
    ['tags not an array', () => modelCard({ name: 'm', tags: 'x' as never }), 'options.tags'],
    ['empty tag', () => modelCard({ name: 'm', tags: [''] }), 'options.tags[0]'],
    [
      'NaN metric',
      () => modelCard({ name: 'm', evaluation: [{ name: 'acc', value: Number.NaN }] }),
      'options.evaluation[0].value',
    ],
    [
      'interval upside down',
      () =>
        modelCard({ name: 'm', evaluation: [{ name: 'acc', value: 0.5, interval: [0.7, 0.6] }] }),
      'options.evaluation[0].interval[1]',
    ],
    [
      'fractional nBoot',
      () =>
        modelCard({
          name: 'm',
          evaluation: [{ name: 'acc', value: 0.5, interval: [0.4, 0.6], nBoot: 2.5 }],
        }),
      'options.evaluation[0].nBoot',
    ],
    [
      'interval with NaN',
      () =>
        modelCard({
          name: 'm',
          evaluation: [{ name: 'acc', value: 0.5, interval: [0.4, Number.NaN] }],
        }),
      'options.evaluation[0].interval[1]',
    ],
    [
      'interval of 3',
      () =>
        modelCard({
          name: 'm',
          evaluation: [{ name: 'acc', value: 0.5, interval: [0.4, 0.5, 0.6] as never }],
        }),
      'options.evaluation[0].interval',
    ],
    [
      'level without interval',
      () => modelCard({ name: 'm', evaluation: [{ name: 'acc', value: 0.5, level: 0.9 }] }),
      'options.evaluation[0].level',
    ],
    [
      'level 1.5',
      () =>
        modelCard({
          name: 'm',
          evaluation: [{ name: 'acc', value: 0.5, interval: [0.4, 0.6], level: 1.5 }],
        }),
      'options.evaluation[0].level',
    ],
    [
      'fairness without feature',
      () => modelCard({ name: 'm', fairness: { metrics: [] } as never }),
      'options.fairness.sensitiveFeature',
    ],
    [
      'group with a negative count',
      () =>
        modelCard({
          name: 'm',
          fairness: { sensitiveFeature: 's', metrics: [], groups: [{ group: 'a', count: -1 }] },
        }),
      'options.fairness.groups[0].count',
    ],
    [
      'group rate NaN',
      () =>
        modelCard({
          name: 'm',
          fairness: {
            sensitiveFeature: 's',
            metrics: [],
            groups: [{ group: 'a', count: 1, rates: { tpr: Number.NaN } }],
          },
        }),
      'options.fairness.groups[0].rates.tpr',
    ],
    [
      'groups with different rates',
      () =>
        modelCard({
          name: 'm',
          fairness: {
            sensitiveFeature: 's',
            metrics: [],
            groups: [
              { group: 'a', count: 1, rates: { tpr: 1 } },
              { group: 'b', count: 1 },
            ],
          },
        }),
      'options.fairness.groups[1].rates',
    ],
    [
      'privacy delta 1',
      () => modelCard({ name: 'm', privacy: { epsilon: 1, delta: 1 } }),
      'options.privacy.delta',
    ],
    [
      'privacy epsilon Infinity',
      () => modelCard({ name: 'm', privacy: { epsilon: Infinity, delta: 0 } }),
      'options.privacy.epsilon',
    ],
    [
      'negative energy',
      () =>
        modelCard({
          name: 'm',
          run: { wallSeconds: 1, tokens: 1, energyJoules: -1, energySource: 'measured' },
        }),
      'options.run.energyJoules',
    ],
    [
      'energy without its source',
      () => modelCard({ name: 'm', run: { wallSeconds: 1, tokens: 1, energyJoules: 1 } }),
      'options.run.energySource',
    ],
    [
      'fractional tokens',
      () => modelCard({ name: 'm', run: { wallSeconds: 1, tokens: 1.5 } }),
      'options.run.tokens',
    ],
    [
      'compression before without after',
      () => modelCard({ name: 'm', compression: [{ method: 'q', metric: 'ppl', before: 1 }] }),
      'options.compression[0].after',
    ],
    [
      'compression figures without a metric',
      () => modelCard({ name: 'm', compression: [{ method: 'q', before: 1, after: 2 }] }),
      'options.compression[0].metric',
    ],
    ['context without config', () => modelCard({ name: 'm', context: 8 }), 'options.context'],
    [
      'run and ledger together',
      () =>
        modelCard({
          name: 'm',
          run: { wallSeconds: 1, tokens: 1 },
          ledger: createRunLedger({ flopsPerToken: 1 }),
        }),
      'options.run',
    ],
    [
      'a ledger that is not one',
      () => modelCard({ name: 'm', ledger: {} as never }),
      'options.ledger',
    ],
    [
      'unknown config key',
      () => modelCard({ name: 'm', config: { ...config, layers: 2 } as never }),
      'options.config.layers',
    ],
  ];
  it.each(cases)('%s', (_, call, argument) => {
    expect(thrownWithoutLeak(call).argument).toBe(argument);
  });

  it('params that do not fit the config: typed error, nothing left behind', () => {
    const params = { w: tf.zeros([3, 3]) };
    const error = thrownWithoutLeak(() => modelCard({ name: 'm', config, params }));
    expect(error.argument).toBe('options.params');
    tf.dispose(params.w);
  });
});
