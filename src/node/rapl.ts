import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { errorCode } from './file-errors';

/** Options of {@link raplEnergySource}. */
export interface RaplOptions {
  /** The powercap directory. Default `'/sys/class/powercap'`. */
  root?: string;
}

const RAPL_KEYS = optionKeys<RaplOptions>({ root: true });

/**
 * What {@link raplEnergySource} returns: an energy source for
 * `createRunLedger({ energySource })` (it fits the efficiency folder's
 * `EnergySource`), with what it found.
 */
export interface RaplEnergySource {
  /** `'rapl (N packages)'`, or `'rapl (unavailable: why)'`. */
  readonly name: string;
  /** Whether the counters could be read when it was made. */
  readonly available: boolean;
  /** Why not, when they could not (absent, permission denied, …). */
  readonly reason?: string;
  /** The package zones summed (`intel-rapl:0`, `intel-rapl:1`, …). */
  readonly packages: readonly string[];
  /**
   * Joules since the source was made, summed over the packages (wrap-arounds
   * of each counter undone), or `undefined` when a counter cannot be read.
   */
  readJoules(): number | undefined;
}

type Zone = { name: string; file: string; range: number; last: number };

/** The package zones (`intel-rapl:N`, not their `intel-rapl:N:M` sub-zones, which the package already counts). */
function packageZones(root: string): string[] {
  return readdirSync(root)
    .filter((name) => /^intel-rapl:\d+$/.test(name))
    .sort();
}

function readMicrojoules(file: string): number {
  const value = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isFinite(value) || value < 0) throw new Error(`${file}: not a counter`);
  return value;
}

/**
 * Measured CPU energy from Linux RAPL counters (`/sys/class/powercap/
 * intel-rapl:N/energy_uj`, also on AMD Zen), summed over every package,
 * for `createRunLedger({ energySource: raplEnergySource() })`. Each
 * counter wraps at its `max_energy_range_uj`: a reading below the last one
 * is taken as one wrap (so read at least once per wrap period, about an hour
 * at 60 W for a 262 kJ range; the ledger reads at each span's start and end).
 *
 * When the counters are absent (no RAPL, a VM, macOS, Windows) or unreadable
 * (`energy_uj` is readable by root only since Linux 5.10: run as root or
 * `chmod o+r` it), it never throws: `available` is false, `reason` says why,
 * and `readJoules()` returns `undefined`, so the ledger estimates energy from
 * its power profile and labels it `estimated`. RAPL counts the whole
 * package (cores, caches, memory controller), not only this process.
 *
 * @param options - `root`: the powercap directory (default `'/sys/class/powercap'`).
 * @throws TfjsBlocksError on bad options only.
 * @example
 * ```ts
 * import { raplEnergySource } from 'tfjs-blocks/node';
 *
 * const rapl = raplEnergySource();
 * if (!rapl.available) console.warn(`energy will be estimated: ${rapl.reason}`);
 * const ledger = createRunLedger({ flopsPerToken: 1e6, energySource: rapl });
 * ```
 */
export function raplEnergySource(options: RaplOptions = {}): RaplEnergySource {
  const fn = 'raplEnergySource';
  checkOptionKeys(fn, options, RAPL_KEYS);
  const root = options.root ?? '/sys/class/powercap';
  if (typeof root !== 'string' || root === '') {
    throw new TfjsBlocksError(fn, 'options.root', 'a directory path', describeValue(root));
  }
  const unavailable = (reason: string, packages: string[] = []): RaplEnergySource => ({
    name: `rapl (unavailable: ${reason})`,
    available: false,
    reason,
    packages,
    readJoules: () => undefined,
  });
  let names: string[];
  try {
    names = packageZones(root);
  } catch (e) {
    return unavailable(`no powercap directory ${root} (${errorCode(e) ?? String(e)})`);
  }
  if (names.length === 0) return unavailable(`no intel-rapl package zones in ${root}`);
  const zones: Zone[] = [];
  for (const name of names) {
    const file = join(root, name, 'energy_uj');
    try {
      const last = readMicrojoules(file);
      const range = readMicrojoules(join(root, name, 'max_energy_range_uj'));
      zones.push({ name, file, range, last });
    } catch (e) {
      const code = errorCode(e);
      const hint = code === 'EACCES' ? ': readable by root only since Linux 5.10' : '';
      return unavailable(`cannot read ${file} (${code ?? String(e)})${hint}`, names);
    }
  }
  let microjoules = 0;
  return {
    name: `rapl (${zones.length} package${zones.length === 1 ? '' : 's'})`,
    available: true,
    packages: names,
    readJoules() {
      let raws: number[];
      try {
        raws = zones.map((z) => readMicrojoules(z.file));
      } catch {
        return undefined;
      }
      zones.forEach((z, i) => {
        const raw = raws[i]!;
        // A counter below its last reading has wrapped once at max_energy_range_uj.
        microjoules += raw >= z.last ? raw - z.last : raw + z.range - z.last;
        z.last = raw;
      });
      return microjoules / 1e6;
    },
  };
}
