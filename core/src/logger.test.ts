import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('writes one "name" key per line: the service is `service`, a child’s resource name is `name` (was duplicated on operator lines)', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ name: 'operator', destination });
    log.child({ kind: 'Model', namespace: 'codevector', name: 'gpt-5' }).info('resource ready');
    const line = lines[0]!;
    expect(line.match(/"name":/g)).toHaveLength(1);
    expect(JSON.parse(line)).toMatchObject({ service: 'operator', kind: 'Model', name: 'gpt-5', msg: 'resource ready' });
  });
});
