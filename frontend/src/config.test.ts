import { afterEach, describe, expect, it, vi } from 'vitest';
import { isMainnetHost, resolveConfig } from './config';

const CANISTER = 'ryjl3-tyaaa-aaaaa-aaaba-cai';
const OTHER = 'rrkah-fqaaa-aaaaa-aaaaq-cai';

const at = (href: string) => new URL(href) as unknown as Location;

function serve(body: unknown, contentType = 'application/json', status = 200) {
  vi.stubGlobal('fetch', vi.fn(async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': contentType } })));
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

describe('the canister id and host', () => {
  it('come from ?canister= first, the page origin by default', async () => {
    serve({ canisterId: OTHER });
    const config = await resolveConfig(at(`http://127.0.0.1:4944/?canister=${CANISTER}`));
    expect(config.canisterId.toText()).toBe(CANISTER);
    expect(config.canisterSource).toMatch(/URL parameter/);
    expect(config.host).toBe('http://127.0.0.1:4944');
    expect(config.mainnet).toBe(false);
  });

  it('then from icinfer.json, served next to the page', async () => {
    serve({ canisterId: OTHER });
    const config = await resolveConfig(at('http://127.0.0.1:4944/'));
    expect(config.canisterId.toText()).toBe(OTHER);
    expect(config.canisterSource).toMatch(/icinfer\.json/);
  });

  it('then from CANISTER_ID_INFERENCE at build time, ignoring an HTML fallback page', async () => {
    serve('<!doctype html>', 'text/html');
    vi.stubEnv('CANISTER_ID_INFERENCE', CANISTER);
    const config = await resolveConfig(at('https://abcde-aaaaa-aaaaa-aaaaa-cai.icp0.io/'));
    expect(config.canisterId.toText()).toBe(CANISTER);
    expect(config.canisterSource).toMatch(/build time/);
    expect(config.host).toBe('https://icp-api.io');
    expect(config.mainnet).toBe(true);
  });

  it('say how to give one when there is none, or it is not a principal', async () => {
    serve('', 'text/plain', 404);
    vi.stubEnv('CANISTER_ID_INFERENCE', '');
    await expect(resolveConfig(at('http://localhost:5173/'))).rejects.toThrow(/\?canister=/);
    await expect(resolveConfig(at('http://localhost:5173/?canister=nope'))).rejects.toThrow(/not a canister id/);
  });

  it('take ?host= for the API', async () => {
    serve({});
    const config = await resolveConfig(at(`http://localhost:5173/?canister=${CANISTER}&host=http://127.0.0.1:4944/x`));
    expect(config.host).toBe('http://127.0.0.1:4944');
  });

  it('know the mainnet domains', () => {
    for (const host of ['icp0.io', 'x.icp0.io', 'x.raw.ic0.app', 'icp-api.io']) expect(isMainnetHost(host)).toBe(true);
    for (const host of ['localhost', '127.0.0.1', 'notic0.app', 'icp0.io.example.com']) expect(isMainnetHost(host)).toBe(false);
  });
});
