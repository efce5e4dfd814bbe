// Money is exact from the CRD to the ledger to the Budget's status (ADR 0004). The boundary
// case of issue #10: a $0.10 budget spent in 10,000 requests of $0.00001 ends exactly at the
// limit: every one of the 10,000 is admitted, the next is refused, and the database, the status
// the operator writes and the refusal all say 0.1, not 0.09999999999999999 or 0.10000000000000184.
import { toSnapshotBudget, toSnapshotModel } from '@codevector/core/config-snapshot';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { formatUsd, parseUsd } from '@codevector/core/money';
import { budgetSpecSchema, modelSpecSchema } from '@codevector/crds';
import { type BudgetTicket, createBudgetLedger } from '@codevector/gateway/budget-ledger';
import { costOf } from '@codevector/gateway/usage';
import { budgetSpend } from '@codevector/operator/budget-spend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

let pool: DatabasePool;
beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!);
});
afterAll(async () => {
  await pool?.end();
});

describe('exact money', () => {
  it('spends a $0.10 budget in exactly 10,000 requests of $0.00001 and refuses the next', async () => {
    // As declared: $10 per million input tokens, so one input token costs $0.00001.
    const model = toSnapshotModel(
      { uid: 'm1', namespace: 'team', name: 'tiny' },
      modelSpecSchema.parse({ name: 'tiny', providerRef: { name: 'p' }, upstreamModel: 'tiny', pricing: { input: 10, output: 30 } }),
      'p1',
    );
    const budget = toSnapshotBudget(
      { uid: 'b-exact', namespace: 'team', name: 'dime' },
      budgetSpecSchema.parse({ subject: { kind: 'global' }, amountUSD: '0.10', period: 'total' }),
    );
    const cost = costOf({ input: 1, output: 0, cacheRead: 0, cacheWrite: 0 }, model.pricing);
    expect(formatUsd(cost)).toBe('0.00001');

    const ledger = createBudgetLedger({ pool, logger: createLogger({ name: 'test', level: 'silent' }), syncMs: 20 });
    const items = [{ budget, subject: 'global' }];
    let admitted = 0;
    for (let i = 0; i < 10_000; i++) {
      const ticket = await ledger.reserve(items, { expected: cost, worst: cost });
      if (!('holds' in ticket)) break;
      admitted++;
      ledger.settle(ticket as BudgetTicket, cost);
    }
    expect(admitted).toBe(10_000);
    const refused = await ledger.reserve(items, { expected: cost, worst: cost });
    expect('holds' in refused).toBe(false);
    expect(ledger.spendOf(budget.uid, 'global')).toBe(parseUsd('0.1'));
    await ledger.close();

    const row = await pool.one(sql.type(z.object({ spent: z.string(), leased: z.string() }))`
      select trim_scale(spent_usd)::text as spent, trim_scale(leased_usd)::text as leased
      from budget_windows where budget_uid = ${budget.uid}`);
    expect(row).toEqual({ spent: '0.1', leased: '0' });
    // What `kubectl get budgets` shows, computed by the operator from the same row.
    expect(await budgetSpend(pool, budget, new Date())).toEqual({ spentUSD: '0.1', reservedUSD: '0', remainingUSD: '0' });
  }, 120_000);
});
