// Prometheus metrics of one witness. A registry per instance (not prom-client's global one), so
// that tests and a single process can run several witnesses side by side.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { registerBuildInfo } from '../service/build-info.js';
import type { Refusal } from './witness.js';

const REFUSALS: readonly Refusal[] = ['conflict', 'inconsistent', 'unknown', 'malformed'];

export class WitnessMetrics {
  readonly registry = new Registry();
  readonly cosignatures: Counter;
  readonly refusals: Counter<'reason'>;
  readonly size: Gauge<'origin'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    registerBuildInfo(this.registry, 'witness');
    this.cosignatures = new Counter({
      name: 'governance_witness_cosignatures_total',
      help: 'Checkpoints this witness cosigned.',
      registers,
    });
    this.refusals = new Counter({
      name: 'governance_witness_refusals_total',
      help: 'add-checkpoint requests refused: conflict (409), inconsistent (422), unknown origin or key (404, 403), malformed (400, 413).',
      labelNames: ['reason'],
      registers,
    });
    // Every reason from the start, so that a rate() over them never starts from a missing series.
    for (const reason of REFUSALS) this.refusals.inc({ reason }, 0);
    this.size = new Gauge({
      name: 'governance_witness_log_size',
      help: 'Tree size of the latest checkpoint this witness cosigned, per origin.',
      labelNames: ['origin'],
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
