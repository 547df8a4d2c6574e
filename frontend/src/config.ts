// Where the page finds its canister and the IC HTTP API.
//
// Canister id, first found wins: (1) `?canister=<id>` in the URL; (2) `GET icinfer.json`
// (`{"canisterId": "<text>"}`), which `icinfer serve` serves next to the page; (3) the
// build-time CANISTER_ID_INFERENCE that dfx exports when it builds the asset canister.
// API host: the page's own origin unless `?host=<url>` is given; on IC mainnet origins the
// boundary nodes' API domain.

import { Principal } from '@icp-sdk/core/principal';

export interface PageConfig {
  canisterId: Principal;
  /** How the canister id was found, in words. */
  canisterSource: string;
  host: string;
  /** On mainnet the agent's built-in IC root key is trusted; elsewhere the host's is fetched. */
  mainnet: boolean;
}

const MAINNET_HOSTS = /(^|\.)(icp0\.io|ic0\.app|icp-api\.io)$/;

export function isMainnetHost(hostname: string): boolean {
  return MAINNET_HOSTS.test(hostname);
}

export async function resolveConfig(location: Location = window.location): Promise<PageConfig> {
  const params = new URLSearchParams(location.search);
  const { id, source } = await resolveCanisterId(params, location);
  let canisterId: Principal;
  try {
    canisterId = Principal.fromText(id);
  } catch {
    throw new Error(`"${id}" (from ${source}) is not a canister id`);
  }
  const hostParam = params.get('host');
  const host = hostParam ? new URL(hostParam).origin : defaultHost(location);
  return { canisterId, canisterSource: source, host, mainnet: isMainnetHost(new URL(host).hostname) };
}

function defaultHost(location: Location): string {
  // An asset canister on mainnet is served from <id>.icp0.io; the API lives at icp-api.io.
  return isMainnetHost(location.hostname) ? 'https://icp-api.io' : location.origin;
}

async function resolveCanisterId(params: URLSearchParams, location: Location): Promise<{ id: string; source: string }> {
  const fromUrl = params.get('canister');
  if (fromUrl) return { id: fromUrl.trim(), source: 'the ?canister= URL parameter' };
  const fromServer = await fetchServedConfig(location);
  if (fromServer) return { id: fromServer, source: 'icinfer.json, served with the page' };
  const fromBuild = import.meta.env.CANISTER_ID_INFERENCE as string | undefined;
  if (fromBuild) return { id: fromBuild, source: 'CANISTER_ID_INFERENCE at build time' };
  throw new Error(
    'No canister id: open the page with ?canister=<id>, serve it with `icinfer serve` (which serves icinfer.json), or build it with CANISTER_ID_INFERENCE set.',
  );
}

async function fetchServedConfig(location: Location): Promise<string | undefined> {
  try {
    const response = await fetch(new URL('icinfer.json', location.href), { cache: 'no-store' });
    // An asset canister answers unknown paths with index.html: only JSON counts.
    if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return undefined;
    const body = (await response.json()) as { canisterId?: unknown };
    return typeof body.canisterId === 'string' ? body.canisterId : undefined;
  } catch {
    return undefined;
  }
}
