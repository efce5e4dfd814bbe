import { createPool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createRejectionRecorder } from '@codevector/core/rejection-recorder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createGatewayMetrics } from '../gateway-metrics.ts';
import { createPipelineDeps } from '../testing/pipeline-deps.ts';
import { recordRefusal, refusal } from './refuse.ts';

let t: Awaited<ReturnType<typeof createPipelineDeps>>;
beforeAll(async () => {
  t = await createPipelineDeps();
});
afterAll(async () => {
  await t?.close();
});

const event = { action: 'gateway.model_not_found', targetType: 'model', targetName: 'nope', detail: { model: 'nope' } };

describe('recordRefusal', () => {
  it('makes the event durable before it returns, with who and which request', async () => {
    const final = await recordRefusal(
      t.deps,
      { actor: 'dev@example.com', requestId: 'req-refuse-1' },
      refusal('GW_MODEL_NOT_FOUND', 'no', event),
    );
    expect(final.code).toBe('GW_MODEL_NOT_FOUND');
    const row = await t.pool.one(sql.type(z.object({ actor: z.string(), action: z.string() }))`
      select actor, action from audit_log where request_id = 'req-refuse-1'`);
    expect(row).toEqual({ actor: 'dev@example.com', action: 'gateway.model_not_found' });
    expect(t.deps.metrics.render()).toContain('model_not_found');
  });

  it('turns a refusal it could not record into GW_EVENT_NOT_RECORDED with a retry-after, never a silent loss', async () => {
    const dead = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 1 });
    await dead.end();
    const deps = {
      recorder: createRejectionRecorder(dead, { windowMs: 1 }),
      metrics: createGatewayMetrics(),
      logger: createLogger({ name: 'test', level: 'silent' }),
    };
    const final = await recordRefusal(
      deps,
      { actor: 'dev@example.com', requestId: 'req-refuse-2' },
      refusal('GW_MODEL_NOT_FOUND', 'no', event),
    );
    expect(final).toMatchObject({ code: 'GW_EVENT_NOT_RECORDED', headers: { 'retry-after': '1' } });
  });
});
