import { describe, expect, it } from 'vitest';
// The Connect page and docs/clients.md must give the same exact settings per agent: every
// snippet the page shows, filled in with the docs' placeholder URL and key, is a fenced code
// block of the docs, character for character.
// Read through Vite's ?raw import: this package is type-checked for the browser, without node:fs.
import docs from '../../../../../docs/clients.md?raw';
import { agentSetups } from './agent-setups.ts';

const blocks = [...docs.matchAll(/```[a-z]*\n([\s\S]*?)\n```/g)].map((m) => m[1]!);

describe('agent setups: the Connect page and docs/clients.md agree', () => {
  for (const setup of agentSetups) {
    it(`${setup.label}: the page's snippet is a code block of the docs`, () => {
      expect(blocks).toContain(setup.snippet('https://codevector.example.com', 'cvk_...'));
    });
  }

  it('names the same key variable and menu paths', () => {
    const codex = agentSetups.find((s) => s.id === 'codex')!.snippet('u', 'k');
    const variable = /env_key = "([A-Z_]+)"/.exec(codex)![1]!;
    expect(codex).toContain(`export ${variable}=`);
    // Any other spelling of the key variable in the docs would contradict the page.
    expect([...docs.matchAll(/\bCODEVECTOR_[A-Z_]*KEY\b/g)].map((m) => m[0])).toEqual(expect.arrayContaining([variable]));
    expect(docs).not.toMatch(/\bCODEVECTOR_KEY\b/);
    const cursorPath = /^(Cursor Settings → [^:]+):/.exec(agentSetups.find((s) => s.id === 'cursor')!.intro)![1]!;
    expect(docs).toContain(cursorPath);
  });
});
