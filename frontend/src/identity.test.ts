import { describe, expect, it } from 'vitest';
import { BrowserKeyProvider, InternetIdentityProvider } from './identity';

class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

describe('the browser key', () => {
  it('gives the same principal across page loads, and a new one once forgotten', async () => {
    const storage = new MemoryStorage();
    const first = (await new BrowserKeyProvider(storage).identity()).getPrincipal().toText();
    expect((await new BrowserKeyProvider(storage).identity()).getPrincipal().toText()).toBe(first);
    await new BrowserKeyProvider(storage).forget();
    expect((await new BrowserKeyProvider(storage).identity()).getPrincipal().toText()).not.toBe(first);
  });

  it('replaces a corrupt stored key', async () => {
    const storage = new MemoryStorage();
    storage.setItem('icinfer.identity.ed25519', 'not json');
    expect((await new BrowserKeyProvider(storage).identity()).getPrincipal().isAnonymous()).toBe(false);
  });

  it('leaves Internet Identity as a marked, unavailable provider', async () => {
    const ii = new InternetIdentityProvider();
    expect(ii.unavailable).toMatch(/not available/);
    await expect(ii.identity()).rejects.toThrow(/Internet Identity/);
  });
});
