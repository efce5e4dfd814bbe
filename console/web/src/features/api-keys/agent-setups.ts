/**
 * The exact setup for each agent and SDK, written once: the console's Connect page shows these
 * with the gateway's URL and a fresh key filled in, and docs/clients.md carries the same text
 * for https://codevector.example.com and cvk_... (agent-setups.test.ts fails when the two
 * differ). Settings are the ones the e2e tests run the real CLIs with.
 */
export type AgentSetup = {
  id: string;
  label: string;
  intro: string;
  snippet: (url: string, key: string) => string;
};

export const agentSetups: readonly AgentSetup[] = [
  {
    id: 'claude-code',
    label: 'Claude Code',
    intro:
      'Set these before running claude. CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC keeps Claude Code from calling the vendor directly, so every request goes through the gateway. Claude Code picks its own default models, which the gateway routes; set ANTHROPIC_MODEL to choose one. For interactive claude on a fresh machine, mark its onboarding complete once, or it stops at "Unable to connect to Anthropic services".',
    snippet: (url, key) => `export ANTHROPIC_BASE_URL="${url}"
export ANTHROPIC_API_KEY="${key}"
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
export DISABLE_TELEMETRY=1
# optional: export ANTHROPIC_MODEL=claude-sonnet-5
# once, for interactive use: mark onboarding complete in ~/.claude.json
node -e 'const f=require("os").homedir()+"/.claude.json",fs=require("fs");const c=fs.existsSync(f)?JSON.parse(fs.readFileSync(f,"utf8")):{};c.hasCompletedOnboarding=true;fs.writeFileSync(f,JSON.stringify(c,null,2))'
claude`,
  },
  {
    id: 'codex',
    label: 'Codex CLI',
    intro: 'Add a provider to ~/.codex/config.toml and export the key (Codex ignores OPENAI_BASE_URL):',
    snippet: (url, key) => `# ~/.codex/config.toml
model_provider = "codevector"

[model_providers.codevector]
name = "CodeVector"
base_url = "${url}/v1"
env_key = "CODEVECTOR_API_KEY"
wire_api = "responses"

# shell
export CODEVECTOR_API_KEY="${key}"
codex`,
  },
  {
    id: 'cursor',
    label: 'Cursor',
    intro:
      "Cursor Settings → Models → API Keys: paste the key as the OpenAI API Key, turn on Override OpenAI Base URL and enter the URL below. Cursor's servers make these calls, so the gateway must be reachable from the internet over HTTPS.",
    snippet: (url, key) => `OpenAI API Key:            ${key}
Override OpenAI Base URL:  ${url}/v1`,
  },
  {
    id: 'anthropic-sdk',
    label: 'Anthropic SDK',
    intro: 'TypeScript (Python: anthropic.Anthropic(base_url=..., api_key=...)):',
    snippet: (url, key) => `import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ baseURL: '${url}', apiKey: '${key}' });`,
  },
  {
    id: 'openai-sdk',
    label: 'OpenAI SDK',
    intro: 'TypeScript (Python: openai.OpenAI(base_url=..., api_key=...)):',
    snippet: (url, key) => `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${url}/v1', apiKey: '${key}' });`,
  },
  {
    id: 'curl',
    label: 'curl',
    intro: 'Check the key and list the models you may use:',
    snippet: (url, key) => `curl -s ${url}/v1/models -H "Authorization: Bearer ${key}"`,
  },
];
