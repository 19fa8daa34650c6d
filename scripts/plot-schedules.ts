// Draws each learning-rate schedule as a small hand-built SVG line plot into
// docs/schedules/*.svg (no plotting dependency), for docs/schedules.md.
// Run: npx tsx scripts/plot-schedules.ts
import { mkdirSync, writeFileSync } from 'node:fs';
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

const WIDTH = 720;
const HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 40 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  return Number(value.toPrecision(3)).toExponential().replace('e-', 'e−');
}

/** Drops points on a straight line between their neighbours: flat and linear stretches cost two points. */
function simplify(points: Array<[number, number]>): Array<[number, number]> {
  const kept: Array<[number, number]> = [points[0]!];
  for (let i = 1; i < points.length - 1; i++) {
    const [ax, ay] = kept[kept.length - 1]!;
    const [bx, by] = points[i]!;
    const [cx, cy] = points[i + 1]!;
    const offLine =
      Math.abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) / Math.hypot(cx - ax, cy - ay);
    if (offLine > 0.05) kept.push(points[i]!);
  }
  kept.push(points[points.length - 1]!);
  return kept;
}

function render(plot: Plot): string {
  const series = plot.curves.map(({ schedule }) =>
    Array.from({ length: plot.steps }, (_, step) => schedule(step)),
  );
  const top = Math.max(...series.flat()) * 1.05;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step: number) => MARGIN.left + (step / (plot.steps - 1)) * plotWidth;
  const y = (value: number) => MARGIN.top + (1 - value / top) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(plot.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="11.5">${escapeXml(plot.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (top / 1.05) * (i / 4);
    const py = y(value).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatTick(value)}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const step = Math.round(((plot.steps - 1) * i) / 5 / 100) * 100;
    const px = x(step).toFixed(1);
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#f0f0f0"/>`,
      `<text x="${px}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${step}</text>`,
    );
  }
  parts.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">step</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`,
  );
  series.forEach((values, c) => {
    const points = simplify(values.map((v, step): [number, number] => [x(step), y(v)]))
      .map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`)
      .join(' ');
    parts.push(
      `<polyline fill="none" stroke="${COLORS[c % COLORS.length]}" stroke-width="1.5" points="${points}"/>`,
    );
    const label = plot.curves[c]!.label;
    if (label) {
      const ly = MARGIN.top + 14 + 14 * c;
      const lx = WIDTH - MARGIN.right - 150;
      parts.push(
        `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${COLORS[c % COLORS.length]}" stroke-width="2"/>`,
        `<text x="${lx + 24}" y="${ly}" dominant-baseline="middle">${escapeXml(label)}</text>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const outDir = new URL('../docs/schedules/', import.meta.url);
mkdirSync(outDir, { recursive: true });
for (const plot of PLOTS) {
  const file = new URL(`${plot.file}.svg`, outDir);
  writeFileSync(file, render(plot));
  console.log(`wrote docs/schedules/${plot.file}.svg`);
}
