import { sql } from '@codevector/core/create-pool';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { requireRole } from '../auth/request-context.ts';
import { parseInput } from '../http/http-errors.ts';
import { type ConnectInfo, type Dashboard, seriesPointSchema } from './insight-contract.ts';

/** What the Connect page and the dashboard read: the gateway URL and daily spend and rejection series. */
export const insightRoutes: FastifyPluginAsync<Pick<AppDeps, 'config' | 'pool'>> = async (app, deps) => {
  app.get<{ Reply: ConnectInfo }>('/api/connect', async (request) => {
    const user = requireRole(request, 'admin', 'auditor', 'member');
    return { gatewayUrl: deps.config.GATEWAY_PUBLIC_URL.replace(/\/$/, ''), user };
  });

  /** Daily series for the dashboard charts: spend by user, group and model; rejections by reason. */
  app.get<{ Reply: Dashboard }>('/api/dashboard', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const { days } = parseInput(z.object({ days: z.coerce.number().int().min(1).max(90).default(14) }), request.query);
    const since = sql.fragment`date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - make_interval(days => ${days - 1})`;
    const day = sql.fragment`to_char(date_trunc('day', x.at at time zone 'UTC'), 'YYYY-MM-DD')`;
    const spendByUser = await deps.pool.any(sql.type(seriesPointSchema)`
      select ${day} as day, coalesce(u.email, 'unknown') as key, sum(x.cost_usd)::float8 as value
      from usage x left join users u on u.id = x.user_id where x.at >= ${since} group by 1, 2 order by 1, 2`);
    const spendByModel = await deps.pool.any(sql.type(seriesPointSchema)`
      select ${day} as day, x.model as key, sum(x.cost_usd)::float8 as value
      from usage x where x.at >= ${since} group by 1, 2 order by 1, 2`);
    // A user in several groups counts toward each of them, as group budgets do.
    const spendByGroup = await deps.pool.any(sql.type(seriesPointSchema)`
      select ${day} as day, g.name as key, sum(x.cost_usd)::float8 as value
      from usage x join group_members gm on gm.user_id = x.user_id join groups g on g.id = gm.group_id
      where x.at >= ${since} group by 1, 2 order by 1, 2`);
    // Rejections: one short index range per gateway action, via the facets table.
    const rejections = await deps.pool.any(sql.type(seriesPointSchema)`
      select ${day} as day, f.action as key, count(*)::float8 as value
      from (select distinct action from audit_facets where action like 'gateway.%') f
      join audit_log x on x.action = f.action and x.at >= ${since}
      group by 1, 2 order by 1, 2`);
    return {
      days,
      spendByUser: [...spendByUser],
      spendByModel: [...spendByModel],
      spendByGroup: [...spendByGroup],
      rejections: [...rejections],
    };
  });
};
