import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// What the chart gives the audit chain and the database roles (docs/adr/0400, 0401): the
// migrator's URL reaches only the migration Job; each service gets its own login's URL; the
// console gets the checkpoint key and a volume for the checkpoints.
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = path.join(root, 'helm/codevector');
let helm: string;

beforeAll(async () => {
  const bin =
    process.env['KUBEBUILDER_ASSETS'] ?? (await run('bash', [path.join(root, 'scripts/control-plane-binaries.sh')])).stdout.trim();
  helm = path.join(bin, 'helm');
});

type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
type Doc = { kind?: string; metadata?: { name?: string }; data?: Record<string, string> } & Record<string, unknown>;
const render = async (...sets: string[]) =>
  parseAllDocuments(
    (
      await run(
        helm,
        [
          'template',
          'cv',
          chart,
          '--set',
          'database.url=postgres://owner:secret@db:5432/cv?sslmode=require',
          ...sets.flatMap((s) => ['--set', s]),
        ],
        {
          env: { ...process.env, HELM_CACHE_HOME: '/tmp/cv-helm-cache', HELM_CONFIG_HOME: '/tmp/cv-helm-config' },
          maxBuffer: 32 << 20,
        },
      )
    ).stdout,
  )
    .map((doc) => doc.toJSON() as Doc | null)
    .filter((doc): doc is Doc => doc?.kind !== undefined);
const podOf = (docs: Doc[], kind: string, name: string) =>
  (
    docs.find((d) => d.kind === kind && d.metadata?.name === name) as unknown as {
      spec: {
        template: { spec: { containers: { env: Env[]; volumeMounts?: { name: string }[] }[]; volumes?: Record<string, unknown>[] } };
      };
    }
  ).spec.template.spec;
const envOf = (docs: Doc[], kind: string, name: string) =>
  Object.fromEntries(podOf(docs, kind, name).containers[0]!.env.map((e) => [e.name, e]));
const secret = (docs: Doc[], name: string) => docs.find((d) => d.kind === 'Secret' && d.metadata?.name === name)!;

describe('chart: database roles and the anchored audit chain', () => {
  it('gives each service its own login and the migrator URL to the migration Job only', async () => {
    const docs = await render('audit.retentionDays=90');
    for (const service of ['operator', 'gateway', 'console']) {
      const env = envOf(docs, 'Deployment', `cv-codevector-${service}`);
      expect(env['DATABASE_URL']?.valueFrom?.secretKeyRef).toEqual({ name: 'cv-codevector-db-roles', key: `${service}-url` });
      const url = new URL(Buffer.from(secret(docs, 'cv-codevector-db-roles').data![`${service}-url`]!, 'base64').toString());
      expect(url.username).toBe(`codevector_${service}_login`);
      expect(url.host).toBe('db:5432');
      expect(url.search).toBe('?sslmode=require');
      expect(decodeURIComponent(url.password)).toBe(
        Buffer.from(secret(docs, 'cv-codevector-db-roles').data![`${service}-password`]!, 'base64').toString(),
      );
      expect(JSON.stringify(podOf(docs, 'Deployment', `cv-codevector-${service}`))).not.toContain('cv-codevector-database');
    }
    const migrate = envOf(docs, 'Job', 'cv-codevector-migrate');
    expect(migrate['DATABASE_URL']?.valueFrom?.secretKeyRef?.name).toBe('cv-codevector-database');
    expect(migrate['CODEVECTOR_AUDIT_RETENTION_DAYS']?.value).toBe('90');
    expect(migrate['CODEVECTOR_DB_GATEWAY_PASSWORD']?.valueFrom?.secretKeyRef).toEqual({
      name: 'cv-codevector-db-roles',
      key: 'gateway-password',
    });
    expect(migrate['CODEVECTOR_DB_GATEWAY_USER']?.value).toBe('codevector_gateway_login');
  });

  it('mounts a generated Ed25519 checkpoint key and a kept volume into the console', async () => {
    const docs = await render();
    const key = Buffer.from(secret(docs, 'cv-codevector-audit-key').data!['private.pem']!, 'base64').toString();
    expect(createPrivateKey(key).asymmetricKeyType).toBe('ed25519');
    const env = envOf(docs, 'Deployment', 'cv-codevector-console');
    expect(env['AUDIT_CHECKPOINT_KEY_FILE']?.value).toBe('/etc/codevector/audit-key/private.pem');
    expect(env['AUDIT_CHECKPOINT_DIR']?.value).toBe('/var/lib/codevector/audit-checkpoints');
    expect(env['TRUST_PROXY']?.value).toBe('false');
    const pvc = docs.find((d) => d.kind === 'PersistentVolumeClaim')!;
    expect(pvc.metadata?.name).toBe('cv-codevector-audit-checkpoints');
    expect(JSON.stringify(pvc)).toContain('helm.sh/resource-policy');
    await expect(render('console.replicas=2')).rejects.toThrow(/ReadWriteMany/);
    expect((await render('console.replicas=2', 'audit.checkpoints.persistence.accessModes={ReadWriteMany}')).length).toBeGreaterThan(0);
    const trusted = envOf(await render('console.trustedProxies={10.0.0.0/8,192.168.1.7}'), 'Deployment', 'cv-codevector-console');
    expect(trusted['TRUST_PROXY']?.value).toBe('10.0.0.0/8,192.168.1.7');
  });

  it('needs the services URL when the migrator URL comes from an existing Secret, and can be turned off', async () => {
    await expect(render('database.url=', 'database.existingSecret=db')).rejects.toThrow(/database.serviceRoles.url/);
    const off = await render('database.serviceRoles.enabled=false', 'audit.checkpoints.enabled=false');
    expect(envOf(off, 'Deployment', 'cv-codevector-gateway')['DATABASE_URL']?.valueFrom?.secretKeyRef?.name).toBe('cv-codevector-database');
    expect(off.find((d) => d.kind === 'PersistentVolumeClaim')).toBeUndefined();
  });
});
