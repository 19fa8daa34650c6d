// A small hand-built SVG line chart (no plotting dependency), shared by the
// demo's loss curve and scripts/plot-schedules.ts.

/** One line of a chart: `[x, y]` points in increasing x. */
export interface Series {
  label: string;
  points: Array<[number, number]>;
  /** Draws the points as dots as well as a line (for sparse series such as validation loss). */
  dots?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  series: Series[];
  /** The bottom of the y axis: 0, or the data's minimum (for losses). Default 0. */
  yFrom?: 'zero' | 'data';
}

const WIDTH = 720;
const HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 40 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 0.01 && magnitude < 1e4) return String(Number(value.toPrecision(3)));
  return Number(value.toPrecision(3)).toExponential().replace('e-', 'e−');
}

/** Round tick values (1, 2, 2.5 or 5 times a power of ten apart), about six, from `low` to `high`. */
function ticks(low: number, high: number): number[] {
  const rough = (high - low) / 6;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const values: number[] = [];
  // The tolerance keeps an end tick that rounding puts a hair outside (1000 on a 0..999 axis).
  for (let v = Math.ceil(low / step) * step; v <= high + step * 0.01; v += step) {
    values.push(Number(v.toPrecision(12)));
  }
  return values;
}

/** Drops points on a straight line between their neighbours: flat and linear stretches cost two points. */
function simplify(points: Array<[number, number]>): Array<[number, number]> {
  if (points.length <= 2) return points;
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

/** Renders the chart as a standalone SVG document. */
export function lineChartSvg(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xMin = Math.min(...all.map((p) => p[0]));
  const xMax = Math.max(xMin + 1, ...all.map((p) => p[0]));
  const dataMin = Math.min(...all.map((p) => p[1]));
  const dataMax = Math.max(...all.map((p) => p[1]));
  const bottom = chart.yFrom === 'data' ? dataMin - (dataMax - dataMin) * 0.05 : 0;
  const top = dataMax + (dataMax - bottom) * 0.05;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (value: number) => MARGIN.left + ((value - xMin) / (xMax - xMin)) * plotWidth;
  const y = (value: number) => MARGIN.top + (1 - (value - bottom) / (top - bottom)) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="11.5">${escapeXml(chart.title)}</text>`,
  ];
  for (const value of ticks(bottom, top)) {
    const py = y(value).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatTick(value)}</text>`,
    );
  }
  for (const value of ticks(xMin, xMax)) {
    const px = x(value).toFixed(1);
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#f0f0f0"/>`,
      `<text x="${px}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${formatTick(value)}</text>`,
    );
  }
  parts.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`,
  );
  chart.series.forEach((series, c) => {
    const color = COLORS[c % COLORS.length];
    const scaled = series.points.map(([px, py]): [number, number] => [x(px), y(py)]);
    const points = simplify(scaled)
      .map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points}"/>`);
    if (series.dots) {
      for (const [px, py] of scaled) {
        parts.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="2.5" fill="${color}"/>`);
      }
    }
    if (series.label) {
      const ly = MARGIN.top + 14 + 14 * c;
      const lx = WIDTH - MARGIN.right - 150;
      parts.push(
        `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
        `<text x="${lx + 24}" y="${ly}" dominant-baseline="middle">${escapeXml(series.label)}</text>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
