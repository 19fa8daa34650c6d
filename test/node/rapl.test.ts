import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunLedger } from '../../src/efficiency/run-ledger';
import { raplEnergySource } from '../../src/node/rapl';
import { thrownWithoutLeak } from '../helpers/rejections';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake /sys/class/powercap: `packages` maps a zone name to [energy_uj, max_energy_range_uj]. */
function fakePowercap(packages: Record<string, [number, number]>): string {
  const root = mkdtempSync(join(tmpdir(), 'rapl-'));
  dirs.push(root);
  for (const [name, [energy, range]] of Object.entries(packages)) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'energy_uj'), `${energy}\n`);
    writeFileSync(join(root, name, 'max_energy_range_uj'), `${range}\n`);
  }
  return root;
}
const setEnergy = (root: string, zone: string, uj: number) =>
  writeFileSync(join(root, zone, 'energy_uj'), `${uj}\n`);

describe('raplEnergySource', () => {
  it('sums every package (not their sub-zones) and undoes a wrap-around at max_energy_range_uj', () => {
    const root = fakePowercap({
      'intel-rapl:0': [1_000_000, 10_000_000],
      'intel-rapl:1': [9_500_000, 10_000_000],
      'intel-rapl:0:0': [0, 10_000_000], // the cores of package 0: already in its count
    });
    const rapl = raplEnergySource({ root });
    expect(rapl.available).toBe(true);
    expect(rapl.packages).toEqual(['intel-rapl:0', 'intel-rapl:1']);
    expect(rapl.name).toBe('rapl (2 packages)');
    expect(rapl.readJoules()).toBe(0);
    setEnergy(root, 'intel-rapl:0', 3_000_000); // +2 J
    setEnergy(root, 'intel-rapl:1', 500_000); // wrapped: +0.5 J to the top, +0.5 J after
    setEnergy(root, 'intel-rapl:0:0', 9_000_000); // ignored
    expect(rapl.readJoules()).toBeCloseTo(3, 12);
    setEnergy(root, 'intel-rapl:1', 1_500_000); // +1 J
    expect(rapl.readJoules()).toBeCloseTo(4, 12);
  });

  it('feeds the ledger measured energy, labelled measured', () => {
    const root = fakePowercap({ 'intel-rapl:0': [0, 2 ** 32] });
    const ledger = createRunLedger({ flopsPerToken: 1, energySource: raplEnergySource({ root }) });
    const timer = ledger.start('training');
    setEnergy(root, 'intel-rapl:0', 12_500_000);
    expect(timer.end(10)).toMatchObject({ joules: 12.5, energy: 'measured' });
    expect(ledger.report().energyJoules.label).toBe('measured');
    expect(ledger.summary()).toContain('(measured by rapl (1 package))');
  });

  it('absent → unavailable, and the ledger estimates energy and says so', () => {
    const empty = fakePowercap({});
    const missing = join(empty, 'nowhere');
    for (const root of [empty, missing]) {
      const rapl = raplEnergySource({ root });
      expect(rapl.available).toBe(false);
      expect(rapl.reason).toMatch(root === empty ? /no intel-rapl package zones/ : /ENOENT/);
      expect(rapl.readJoules()).toBeUndefined();
      const ledger = createRunLedger({
        flopsPerToken: 1,
        power: { watts: 10 },
        energySource: rapl,
        clock: (() => {
          let t = 0;
          return () => (t += 1000);
        })(),
      });
      expect(ledger.start('inference').end(4)).toMatchObject({ joules: 10, energy: 'estimated' });
      expect(ledger.report().energyJoules).toEqual({ value: 10, label: 'estimated' });
      expect(ledger.report().energySource).toMatch(/^rapl \(unavailable: /);
      expect(ledger.summary()).toContain('(estimated: 10 W, custom)');
    }
  });

  it('unreadable → unavailable with the reason; a counter that becomes unreadable gives estimated spans', () => {
    // Root reads any file whatever its mode, so an unreadable counter is a directory here (EISDIR).
    const root = fakePowercap({});
    mkdirSync(join(root, 'intel-rapl:0', 'energy_uj'), { recursive: true });
    const rapl = raplEnergySource({ root });
    expect(rapl.available).toBe(false);
    expect(rapl.reason).toMatch(/cannot read .*energy_uj \(EISDIR\)/);

    const later = fakePowercap({ 'intel-rapl:0': [0, 100] });
    const source = raplEnergySource({ root: later });
    const ledger = createRunLedger({ flopsPerToken: 1, energySource: source });
    const timer = ledger.start('training');
    rmSync(join(later, 'intel-rapl:0', 'energy_uj'));
    expect(source.readJoules()).toBeUndefined();
    expect(timer.end(1).energy).toBe('estimated');
  });

  it('rejects bad options naming them, and makes no tensor', () => {
    expect(thrownWithoutLeak(() => raplEnergySource({ root: 3 as never })).argument).toBe(
      'options.root',
    );
    expect(thrownWithoutLeak(() => raplEnergySource({ rot: 'x' } as never)).argument).toBe(
      'options.rot',
    );
    const before = tf.memory().numTensors;
    raplEnergySource({ root: fakePowercap({ 'intel-rapl:0': [5, 10] }) }).readJoules();
    expect(tf.memory().numTensors).toBe(before);
  });
});
