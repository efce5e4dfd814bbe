import { redactBody, secretEventDetail, secretNotices } from '../../secret-scan/secret-actions.ts';
import type { ScanBlock } from '../../secret-scan/secret-scanner.ts';
import type { RoutedModel } from '../../snapshot-store.ts';
import type { RejectionEvent } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';
import type { RequestBlock } from '../request-document.ts';

/**
 * What the blocks leave of the body: the short top-level values, and the long values' keys (keys
 * reach the upstream too) with null in place of the value, which the blocks cover.
 */
function restOf(body: Record<string, unknown>, blocks: readonly RequestBlock[]): { raw: Buffer; value: unknown } {
  const long = new Set(blocks.map((block) => block.path[0]));
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(body)) rest[key] = long.has(key) ? null : body[key];
  return { raw: Buffer.from(JSON.stringify(rest)), value: rest };
}

const toScanBlock =
  (plain: Buffer) =>
  (block: RequestBlock): ScanBlock => ({
    raw: plain.subarray(block.start, block.end),
    hash: block.hash,
    path: block.path,
    // A block new to this request was parsed to validate it; the scanner reads that value.
    value: () => (block.parsed ? block.parsed.value : (JSON.parse(plain.toString('utf8', block.start, block.end)) as unknown)),
  });

/** Redact and Observe matches: events to record before forwarding, and whether the body changed. */
export type SecretNotices = { notices: RejectionEvent[]; redacted: boolean };

/**
 * Admit step 3: the body as the upstream will read it, against every SecretRule that governs the
 * Model's namespace. A Block match refuses; Redact matches are replaced in `body`; Redact and
 * Observe matches come back as events (ADR 0115).
 */
export function scanSecrets(
  routed: RoutedModel,
  modelName: string,
  body: Record<string, unknown>,
  plain: Buffer,
  blocks?: readonly RequestBlock[],
): Refusal | SecretNotices | null {
  const { scanner } = routed.policy;
  if (!scanner) return null;
  const scan =
    blocks && blocks.length > 0 ? scanner.scanBlocks(restOf(body, blocks), blocks.map(toScanBlock(plain))) : scanner.scan(plain, body);
  if (scan.matches.length === 0) return null;
  if (!scan.blocked) return { notices: secretNotices(scan.matches, modelName), redacted: redactBody(body, scan.matches) > 0 };
  const match = scan.matches.find((m) => m.action === 'block')!;
  return refusal(
    'GW_SECRET_BLOCKED',
    `Blocked by secret rule "${match.rule}" (${match.secretRule}): a secret was found at ${match.path}. Remove it and try again.`,
    {
      action: 'gateway.secret_blocked',
      targetType: 'secret_rule',
      targetName: match.secretRule,
      detail: secretEventDetail(match, modelName),
    },
  );
}
