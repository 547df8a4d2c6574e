import { describe, expect, it } from 'vitest';
import { fromHex } from '../verify/bytes';
import { presetFor } from './presets';

const DIGITS_SHA = 'c2dc3096d0ba2370a91098ecb3e78eae666a534e57632e5f863208a6c3a7df71';

describe('model presets from models/manifest.json', () => {
  it('find a model by its bytes, under any id', () => {
    const preset = presetFor({ id: 'my-digits', sha256: fromHex(DIGITS_SHA) });
    expect(preset.layout).toBe('flat');
    expect(preset.labels).toHaveLength(10);
  });

  it('find an entry by id only when the manifest cannot pin its bytes', () => {
    const entries = [
      { id: 'pinned', sha256: 'aa'.repeat(32), preset: { order: 'BGR' as const } },
      { id: 'generated', preset: { mean: [0.5] } },
    ];
    const other = fromHex('00'.repeat(32));
    expect(presetFor({ id: 'pinned', sha256: other }, entries)).toEqual({});
    expect(presetFor({ id: 'generated', sha256: other }, entries)).toEqual({ mean: [0.5] });
    expect(presetFor({ id: 'x', sha256: fromHex('aa'.repeat(32)) }, entries)).toEqual({ order: 'BGR' });
  });
});
