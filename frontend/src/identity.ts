// Who the page calls as. An identity provider hands the agent an Identity; the principal it
// yields is the caller the canister records in every log entry.
//
// Today there is one provider: an Ed25519 key generated in the browser and kept in
// localStorage, so the principal is stable across reloads of this origin (and lost with
// the site's data). Internet Identity is not available on a local host; its provider is the
// marked place below.

import type { Identity } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';

export interface IdentityProvider {
  readonly kind: 'browser-key' | 'internet-identity';
  readonly label: string;
  /** Why the provider cannot be used here, if it cannot. */
  readonly unavailable?: string;
  /** The identity to call with; may prompt the user. */
  identity(): Promise<Identity>;
  /** Forgets the identity: the next identity() is a new principal. */
  forget(): Promise<void>;
}

const STORAGE_KEY = 'icinfer.identity.ed25519';

export class BrowserKeyProvider implements IdentityProvider {
  readonly kind = 'browser-key';
  readonly label = 'Ed25519 key kept in this browser';

  constructor(private readonly storage: Storage = window.localStorage) {}

  async identity(): Promise<Identity> {
    const stored = this.storage.getItem(STORAGE_KEY);
    if (stored) {
      try {
        return Ed25519KeyIdentity.fromJSON(stored);
      } catch {
        // A corrupt entry: replace it rather than leave the page without an identity.
      }
    }
    const key = Ed25519KeyIdentity.generate();
    this.storage.setItem(STORAGE_KEY, JSON.stringify(key.toJSON()));
    return key;
  }

  async forget(): Promise<void> {
    this.storage.removeItem(STORAGE_KEY);
  }
}

/**
 * INTERNET IDENTITY GOES HERE. Not available on the local host (no II canister is
 * installed there). To add it: depend on @icp-sdk/auth, create an AuthClient, `login` with
 * `identityProvider` set to II's URL (mainnet, or a local II canister), and return
 * `authClient.getIdentity()` from identity(); forget() is `authClient.logout()`. The rest
 * of the page only sees the Identity.
 */
export class InternetIdentityProvider implements IdentityProvider {
  readonly kind = 'internet-identity';
  readonly label = 'Internet Identity';
  readonly unavailable = 'not available on a local host: no Internet Identity canister is installed';

  async identity(): Promise<Identity> {
    throw new Error(`Internet Identity is ${this.unavailable}`);
  }

  async forget(): Promise<void> {}
}

export const identityProviders = (): IdentityProvider[] => [new BrowserKeyProvider(), new InternetIdentityProvider()];
