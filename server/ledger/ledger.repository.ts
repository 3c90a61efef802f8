// Every SQL statement the ledger runs: the batch insert (which folds the rows into the rollups, see
// ledger.sql.ts and rollups.ts), monthly partitions, and month-to-date spend.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { INSERT_BATCH_SQL } from './ledger.sql.js';

@Injectable()
export class LedgerRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Inserts a batch (one array literal per column, see batchParameters()); returns how many rows were new. */
  async insertBatch(parameters: string[]): Promise<number> {
    const [{ inserted }] = (await this.dataSource.query(INSERT_BATCH_SQL, parameters)) as [{ inserted: number }];
    return inserted;
  }

  /** Creates the monthly partitions of usage_events from `from`'s month, `months` of them, where missing. */
  async ensurePartitions(from: Date, months: number): Promise<void> {
    await this.dataSource.query('SELECT ensure_usage_partitions($1, $2)', [from.toISOString(), months]);
  }
}
