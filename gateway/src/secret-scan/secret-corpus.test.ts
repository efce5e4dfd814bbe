import { describe, expect, it } from 'vitest';
import { corpusKinds, sampleBody, scoreScanner, secretCorpus } from '../testing/secret-corpus.ts';
import { createSecretScanner } from './secret-scanner.ts';

const allPacks = [{ namespace: 'default', name: 'builtin', detectors: ['all'], patterns: [] }];
const samples = secretCorpus();

function scanText(text: string) {
  const raw = Buffer.from(JSON.stringify(sampleBody({ kind: 'test', positive: true, text }, 0)));
  return createSecretScanner(allPacks).scan(raw, JSON.parse(raw.toString()), { all: true }).matches;
}

describe('labelled corpus', () => {
  it('is large enough and the same for the same seed', () => {
    expect(samples.filter((s) => s.positive).length).toBeGreaterThanOrEqual(600);
    expect(samples.filter((s) => !s.positive).length).toBeGreaterThanOrEqual(600);
    expect(corpusKinds.positive.length).toBeGreaterThanOrEqual(40);
    const again = secretCorpus({ perPositiveKind: 1, perNegativeKind: 1 });
    expect(again.map((s) => s.text)).toEqual(secretCorpus({ perPositiveKind: 1, perNegativeKind: 1 }).map((s) => s.text));
  });

  it('is found with recall ≥ 0.95 and precision ≥ 0.99 by the built-in packs', () => {
    const score = scoreScanner(createSecretScanner(allPacks), samples);
    expect(score.falseAlarms.map((alarm) => `${alarm.sample.kind}: ${alarm.rules.join(',')}`)).toEqual([]);
    expect(score.recall).toBeGreaterThanOrEqual(0.95);
    expect(score.precision).toBeGreaterThanOrEqual(0.99);
    for (const [kind, entry] of Object.entries(score.perKind)) if (entry.positive) expect(entry.rate, kind).toBeGreaterThanOrEqual(0.75);
  });
});

describe('detectors for the classes without a prefix', () => {
  it('reports the value of a generic assignment, not its key, and yields to a specific detector', () => {
    const [match] = scanText('DB_PASSWORD=Xq7!mR2pLk9Zt#w\n');
    expect([match?.rule, match?.text]).toEqual(['generic-secret-assignment', 'Xq7!mR2pLk9Zt#w']);
    const github = scanText(`GITHUB_TOKEN=${samples.find((s) => s.kind === 'github-pat')!.secret}`);
    expect(github.map((m) => m.rule)).toEqual(['github-token']);
  });

  it('ignores key names that describe a secret and values that refer to one', () => {
    for (const text of [
      'password_hash: "$2b$12$abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHIJ012"',
      'tokenizer: cl100k_base99',
      'const apiKey = process.env.OPENAI_API_KEY;',
      'secretName: orders-db-2024x',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal .env reference, not a template
      'DB_PASSWORD=${DB_PASSWORD}',
    ]) {
      expect(scanText(text), text).toEqual([]);
    }
  });

  it('finds a token whose escapes a JSON file read as text kept, at its span in the text', () => {
    const text = 'cat creds.json\n{"aws_secret_access_key":"Ab3dEf6hIj\\/Lm9oPq2sTu5wXy8zAb1dEf4hIj7Lq"}';
    const [match] = scanText(text);
    expect(match?.rule).toBe('aws-secret-access-key');
    expect(text.slice(match!.start, match!.end)).toBe('Ab3dEf6hIj\\/Lm9oPq2sTu5wXy8zAb1dEf4hIj7Lq');
  });

  it('finds a token wrapped at 76 columns, spanning the lines', () => {
    const token = samples.find((s) => s.kind === 'github-fine-grained')!.secret!;
    const text = `token: ${token}`.replace(/.{76}/g, '$&\n');
    const [match] = scanText(text);
    expect(match?.rule).toBe('github-fine-grained-token');
    expect(match!.text.replace(/\n/g, '')).toBe(token);
  });

  it('decodes Kubernetes Secret data and reports the base64 value', () => {
    const encoded = Buffer.from('API_TOKEN=Zr8kQ2mX9pLw4TnV7bYc\n').toString('base64');
    const [match] = scanText(`apiVersion: v1\nkind: Secret\ndata:\n  .env: ${encoded}\n  region: ZXUtd2VzdC0x\n`);
    expect([match?.rule, match?.text]).toEqual(['generic-secret-assignment', encoded]);
  });

  it('pairs a Twilio auth token with its Account SID and an Azure key with its account', () => {
    const sid = `AC${'0123456789abcdef'.repeat(2)}`;
    expect(
      scanText(`from twilio.rest import Client\nclient = Client("${sid}", "9f3c1a7e5b2d4c6f8a0e1b3d5f7a9c2e")`).map((m) => m.rule),
    ).toEqual(['twilio-auth-token']);
    expect(scanText('from twilio.rest import Client\nclient = Client("9f3c1a7e5b2d4c6f8a0e1b3d5f7a9c2e")')).toEqual([]);
    const key = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
    expect(scanText(`AccountName=acmeprod;AccountKey=${key};EndpointSuffix=core.windows.net`).map((m) => m.rule)).toContain(
      'azure-storage-key',
    );
    expect(scanText(`integrity: ${key}`)).toEqual([]);
  });
});
