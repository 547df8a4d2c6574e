// Release manifests (crates/cli/src/release.rs, what scripts/release.sh writes): the module
// hashes of a release, raw and gzipped (the IC certifies the module as installed), so the
// page can name the release a module hash belongs to.

import { bytesEqual, fromHex } from './bytes';

export const RELEASE_FORMAT = 'icinfer-release/1';

export interface Release {
  package: string;
  sourceCommit: string;
  toolchain: string;
  /** The gzipped module's hash, then the raw module's. */
  moduleHashes: Uint8Array[];
}

/** Parses a manifest; throws with the reason when it is not one. */
export function parseRelease(text: string): Release {
  const value = JSON.parse(text) as Record<string, unknown>;
  if (value.format !== RELEASE_FORMAT) throw new Error(`not a release manifest (format ${JSON.stringify(value.format)}, expected ${RELEASE_FORMAT})`);
  const field = (name: string): string => {
    const v = value[name];
    if (typeof v !== 'string') throw new Error(`release manifest: ${name} missing`);
    return v;
  };
  const hash = (name: string): Uint8Array => {
    const bytes = fromHex(field(name));
    if (bytes.length !== 32) throw new Error(`release manifest: ${name} is not a SHA-256`);
    return bytes;
  };
  return {
    package: field('package'),
    sourceCommit: field('source_commit'),
    toolchain: field('toolchain'),
    moduleHashes: [hash('gzip_sha256'), hash('module_sha256')],
  };
}

/** The release a module hash is of, among those known. */
export function releaseOf(moduleHash: Uint8Array, releases: readonly Release[]): Release | undefined {
  return releases.find((r) => r.moduleHashes.some((h) => bytesEqual(h, moduleHash)));
}

/** "module 3c3c…4d4d (release inference at commit abc123, rustc 1.95.0)", or without the release. */
export function moduleText(moduleHash: Uint8Array, releases: readonly Release[], hex: (b: Uint8Array) => string): string {
  const release = releaseOf(moduleHash, releases);
  return release
    ? `module ${hex(moduleHash)} (release ${release.package} at commit ${release.sourceCommit.slice(0, 12)}, ${release.toolchain})`
    : `module ${hex(moduleHash)} (no known release: compare it with a reproducible build or a release manifest)`;
}
