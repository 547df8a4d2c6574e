// The agent and the canister actor, and the root key verification trusts.

import { HttpAgent, type Identity } from '@icp-sdk/core/agent';
import { createActor, type Inference } from './bindings/inference';
import type { PageConfig } from './config';

export interface Connection {
  agent: HttpAgent;
  canister: Inference;
  /** The IC root key (DER) certificates are checked against. */
  rootKey: Uint8Array;
  /** Where that key came from, in words: shown next to every verification. */
  rootKeySource: string;
}

export async function connect(config: PageConfig, identity: Identity): Promise<Connection> {
  // On a local host the root key can only come from the host itself; agent-js fetches it
  // from /api/v2/status. That is trust in the host, and the page says so. On mainnet the
  // agent's built-in key is used and nothing is fetched.
  let agent: HttpAgent;
  try {
    agent = await HttpAgent.create({
      host: config.host,
      identity,
      shouldFetchRootKey: !config.mainnet,
      verifyQuerySignatures: true,
    });
  } catch (e) {
    throw new Error(`cannot reach the IC API at ${config.host} (GET /api/v2/status): ${firstLine(e)}`);
  }
  if (!agent.rootKey) throw new Error('the agent has no root key');
  const rootKeySource = config.mainnet
    ? 'the IC mainnet root key built into @icp-sdk/core'
    : `fetched from ${config.host}/api/v2/status (a local network: this trusts the host that served it)`;
  const canister = createActor(config.canisterId.toText(), { agent });
  return { agent, canister, rootKey: agent.rootKey, rootKeySource };
}

/** agent-js puts whole stack traces in some messages: the first line says what happened. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split(/\n| at /)[0].trim();
}
