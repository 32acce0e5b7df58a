// Registered runtimes (admin.runtime.register): where they are kept; the ledger's
// runtime.registered events are their proof.

export interface RuntimeRecord {
  runtime: string;
  region?: string | undefined;
  tenancy?: string | undefined;
  description?: string | undefined;
  registered_by: string;
  registered_at: string;
}

export interface RuntimeRegistry {
  register(record: RuntimeRecord): Promise<void>;
  list(): Promise<RuntimeRecord[]>;
}

export class MemoryRuntimeRegistry implements RuntimeRegistry {
  private readonly records = new Map<string, RuntimeRecord>();
  async register(record: RuntimeRecord): Promise<void> {
    this.records.set(record.runtime, { ...record });
  }
  async list(): Promise<RuntimeRecord[]> {
    return [...this.records.values()].sort((a, b) => (a.runtime < b.runtime ? -1 : 1));
  }
}
