import { clip } from '../../clip.ts';
import type { RoutedModel } from '../../snapshot-store.ts';
import { type Refusal, refusal } from '../refuse.ts';

/** Admit step 3: the body as the upstream will read it, against every SecretRule that governs the Model's namespace. */
export function scanSecrets(routed: RoutedModel, modelName: string, body: Record<string, unknown>, plain: Buffer): Refusal | null {
  const { scanner } = routed.policy;
  if (!scanner) return null;
  const scan = scanner.scan(plain, body);
  if (!scan.blocked) return null;
  const match = scan.matches[0]!;
  return refusal(
    'GW_SECRET_BLOCKED',
    `Blocked by secret rule "${match.rule}" (${match.secretRule}): a secret was found at ${match.path}. Remove it and try again.`,
    {
      action: 'gateway.secret_blocked',
      targetType: 'secret_rule',
      targetName: match.secretRule,
      detail: {
        rule: match.rule,
        secretRule: match.secretRule,
        location: match.path,
        fingerprint: match.fingerprint,
        model: clip(modelName),
      },
    },
  );
}
