import { describe, expect, it } from 'vitest';
import { toHex } from './bytes';
import { moduleText, parseRelease, releaseOf } from './release';

const manifest = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    format: 'icinfer-release/1',
    package: 'inference',
    module_sha256: '11'.repeat(32),
    gzip_sha256: '22'.repeat(32),
    source_commit: '0123456789abcdef0123',
    toolchain: 'rustc 1.95.0',
    ic_wasm: '0.11.1',
    ...overrides,
  });

describe('release manifests', () => {
  it('name the release of either module hash, raw or gzipped', () => {
    const release = parseRelease(manifest());
    for (const byte of [0x11, 0x22]) {
      expect(releaseOf(new Uint8Array(32).fill(byte), [release])).toBe(release);
    }
    expect(releaseOf(new Uint8Array(32).fill(0x33), [release])).toBeUndefined();
    expect(moduleText(new Uint8Array(32).fill(0x22), [release], toHex)).toContain('release inference at commit 0123456789ab, rustc 1.95.0');
    expect(moduleText(new Uint8Array(32).fill(0x33), [release], toHex)).toContain('no known release');
  });

  it('refuse what is not one', () => {
    expect(() => parseRelease(manifest({ format: 'icinfer-release/2' }))).toThrow(/not a release manifest/);
    expect(() => parseRelease(manifest({ gzip_sha256: 'abcd' }))).toThrow(/not a SHA-256/);
    expect(() => parseRelease(manifest({ source_commit: 7 }))).toThrow(/source_commit missing/);
  });
});
