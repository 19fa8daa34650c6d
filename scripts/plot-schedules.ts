// Draws each learning-rate schedule as a small hand-built SVG line plot into
// docs/schedules/*.svg (no plotting dependency), for docs/schedules.md.
// Run: npx tsx scripts/plot-schedules.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { lineChartSvg } from '../examples/svg-plot';
import { constantSchedule } from '../src/schedules/constant';
import {
  cosineDecaySchedule,
  cosineRestartsSchedule,
  warmupCosineDecaySchedule,
} from '../src/schedules/cosine';
import { exponentialDecaySchedule } from '../src/schedules/exponential';
import { inverseSqrtSchedule } from '../src/schedules/inverse-sqrt';
import { joinSchedules } from '../src/schedules/join';
import { oneCycleSchedule } from '../src/schedules/one-cycle';
import { piecewiseConstantSchedule } from '../src/schedules/piecewise';
import { linearSchedule, polynomialSchedule } from '../src/schedules/polynomial';
import type { Schedule } from '../src/schedules/schedule';
import { wsdSchedule } from '../src/schedules/wsd';

interface Curve {
  label: string;
  schedule: Schedule;
}

interface Plot {
  file: string;
  title: string;
  steps: number;
  curves: Curve[];
}

const STEPS = 1000;

const PLOTS: Plot[] = [
  {
    file: 'constant',
    title: 'constantSchedule(1e-3)',
    steps: STEPS,
    curves: [{ label: '', schedule: constantSchedule(1e-3) }],
  },
  {
    file: 'linear',
    title:
      'linearSchedule({ initValue: 1e-4, endValue: 1e-3, transitionSteps: 300, transitionBegin: 100 })',
    steps: STEPS,
    curves: [
      {
        label: '',
        schedule: linearSchedule({
          initValue: 1e-4,
          endValue: 1e-3,
          transitionSteps: 300,
          transitionBegin: 100,
        }),
      },
    ],
  },
  {
    file: 'polynomial',
    title: 'polynomialSchedule({ initValue: 1e-3, transitionSteps: 800, power })',
    steps: STEPS,
    curves: [0.5, 1, 2].map((power) => ({
      label: `power ${power}`,
      schedule: polynomialSchedule({ initValue: 1e-3, transitionSteps: 800, power }),
    })),
  },
  {
    file: 'exponential-decay',
    title: 'exponentialDecaySchedule({ initValue: 1e-3, transitionSteps: 100, decayRate: 0.7 })',
    steps: STEPS,
    curves: [false, true].map((staircase) => ({
      label: staircase ? 'staircase (StepLR)' : 'continuous',
      schedule: exponentialDecaySchedule({
        initValue: 1e-3,
        transitionSteps: 100,
        decayRate: 0.7,
        staircase,
      }),
    })),
  },
  {
    file: 'piecewise-constant',
    title:
      'piecewiseConstantSchedule({ initValue: 1e-3, boundariesAndScales: { 300: 0.3, 600: 0.3, 800: 0.3 } })',
    steps: STEPS,
    curves: [
      {
        label: '',
        schedule: piecewiseConstantSchedule({
          initValue: 1e-3,
          boundariesAndScales: { 300: 0.3, 600: 0.3, 800: 0.3 },
        }),
      },
    ],
  },
  {
    file: 'cosine-decay',
    title: 'cosineDecaySchedule({ initValue: 1e-3, decaySteps: 800, alpha, exponent })',
    steps: STEPS,
    curves: [
      { label: 'alpha 0', schedule: cosineDecaySchedule({ initValue: 1e-3, decaySteps: 800 }) },
      {
        label: 'alpha 0.1',
        schedule: cosineDecaySchedule({ initValue: 1e-3, decaySteps: 800, alpha: 0.1 }),
      },
      {
        label: 'exponent 2',
        schedule: cosineDecaySchedule({ initValue: 1e-3, decaySteps: 800, exponent: 2 }),
      },
    ],
  },
  {
    file: 'warmup-cosine-decay',
    title:
      'warmupCosineDecaySchedule({ peakValue: 1e-3, warmupSteps: 100, decaySteps: 1000, endValue: 1e-4 })',
    steps: STEPS,
    curves: [
      {
        label: '',
        schedule: warmupCosineDecaySchedule({
          peakValue: 1e-3,
          warmupSteps: 100,
          decaySteps: 1000,
          endValue: 1e-4,
        }),
      },
    ],
  },
  {
    file: 'one-cycle',
    title: 'oneCycleSchedule({ maxValue: 1e-3, totalSteps: 1000, ... })',
    steps: STEPS,
    curves: [
      { label: 'cos (default)', schedule: oneCycleSchedule({ maxValue: 1e-3, totalSteps: STEPS }) },
      {
        label: 'linear, threePhase',
        schedule: oneCycleSchedule({
          maxValue: 1e-3,
          totalSteps: STEPS,
          annealStrategy: 'linear',
          threePhase: true,
        }),
      },
    ],
  },
  {
    file: 'cosine-restarts',
    title:
      'cosineRestartsSchedule({ initValue: 1e-3, firstPeriod: 100, periodMultiplier, minValue: 1e-4 })',
    steps: STEPS,
    curves: [1, 2].map((periodMultiplier) => ({
      label: `periodMultiplier ${periodMultiplier}`,
      schedule: cosineRestartsSchedule({
        initValue: 1e-3,
        firstPeriod: 100,
        periodMultiplier,
        minValue: 1e-4,
      }),
    })),
  },
  {
    file: 'inverse-sqrt',
    title: 'inverseSqrtSchedule({ peakValue: 1e-3, warmupSteps: 100 })',
    steps: STEPS,
    curves: [{ label: '', schedule: inverseSqrtSchedule({ peakValue: 1e-3, warmupSteps: 100 }) }],
  },
  {
    file: 'wsd',
    title:
      'wsdSchedule({ peakValue: 1e-3, warmupSteps: 100, stableSteps: 600, decaySteps: 300, decayShape })',
    steps: STEPS,
    curves: (['linear', 'cosine', 'sqrt'] as const).map((decayShape) => ({
      label: decayShape,
      schedule: wsdSchedule({
        peakValue: 1e-3,
        warmupSteps: 100,
        stableSteps: 600,
        decaySteps: 300,
        decayShape,
      }),
    })),
  },
  {
    file: 'join',
    title: 'joinSchedules([linear warmup, constant, exponential decay], [100, 500])',
    steps: STEPS,
    curves: [
      {
        label: '',
        schedule: joinSchedules(
          [
            linearSchedule({ initValue: 0, endValue: 1e-3, transitionSteps: 100 }),
            constantSchedule(1e-3),
            exponentialDecaySchedule({ initValue: 1e-3, transitionSteps: 100, decayRate: 0.5 }),
          ],
          [100, 500],
        ),
      },
    ],
  },
];

function render(plot: Plot): string {
  return lineChartSvg({
    title: plot.title,
    xLabel: 'step',
    series: plot.curves.map(({ label, schedule }) => ({
      label,
      points: Array.from({ length: plot.steps }, (_, step): [number, number] => [
        step,
        schedule(step),
      ]),
    })),
  });
}

const outDir = new URL('../docs/schedules/', import.meta.url);
mkdirSync(outDir, { recursive: true });
for (const plot of PLOTS) {
  const file = new URL(`${plot.file}.svg`, outDir);
  writeFileSync(file, render(plot));
  console.log(`wrote docs/schedules/${plot.file}.svg`);
}
