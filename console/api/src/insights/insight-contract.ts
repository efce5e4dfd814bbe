// The Connect page's and the dashboard's answers (contract file: zod and other contracts only,
// see http/http-contract.ts).
import { z } from 'zod';
import { sessionUserSchema } from '../auth/auth-contract.ts';

/** GET /api/connect: where agents reach the gateway. */
export const connectInfoSchema = z.object({ gatewayUrl: z.string(), user: sessionUserSchema });
export type ConnectInfo = z.infer<typeof connectInfoSchema>;

/** One day's value of one series (a user, group, model or rejection reason). */
export const seriesPointSchema = z.object({ day: z.string(), key: z.string(), value: z.number() });
export type SeriesPoint = z.infer<typeof seriesPointSchema>;

/** GET /api/dashboard?days=N: daily series over the last N days (UTC). */
export const dashboardSchema = z.object({
  days: z.number().int(),
  spendByUser: z.array(seriesPointSchema),
  spendByModel: z.array(seriesPointSchema),
  spendByGroup: z.array(seriesPointSchema),
  rejections: z.array(seriesPointSchema),
});
export type Dashboard = z.infer<typeof dashboardSchema>;
