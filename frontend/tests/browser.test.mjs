// The page in Debian's chromium, driven by playwright-core, against `icinfer serve` with the
// digits model uploaded: load the page, draw a digit and infer, see the receipt, verify it
// (every check green), and see tampered proofs rejected, each by the check that should
// catch it. Screenshots go to frontend/test-results/.
//
// Started by tests/run.sh, which passes ICINFER_URL, ICINFER_CANISTER, ICINFER_ROOT_KEY (hex
// DER, from serve's ready file) and ICINFER_BIN (the CLI, to compare its input hashes with the
// page's). CHROMIUM overrides /usr/bin/chromium.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through frontend/tests/run.sh)`);
  return value;
};
const url = env('ICINFER_URL');
const canisterId = env('ICINFER_CANISTER');
const rootKeyHex = env('ICINFER_ROOT_KEY');

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const results = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
mkdirSync(results, { recursive: true });
const TIMEOUT = 60_000;

let context;
let page;
let userDataDir;

before(async () => {
  // A fresh profile every run; without the background-networking flags chromium keeps
  // trying to reach Google's services, which a closed network answers with timeouts.
  userDataDir = mkdtempSync(join(tmpdir(), 'icinfer-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`[browser console] ${message.text()}`);
  });
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

/** The whole page; with a section id, that section alone (where the result is). */
const shot = (name, section) =>
  section
    ? page.locator(`#${section}`).screenshot({ path: join(results, `${name}.png`) })
    : page.screenshot({ path: join(results, `${name}.png`), fullPage: true });
const byTestId = (id) => page.locator(`[data-testid="${id}"]`);

async function openPage(query = '') {
  await page.goto(`${url}/${query}`);
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#app').innerText());
}

/** Draws a "0" on the pad with the mouse: an upright ellipse, as the training zeros are. */
async function drawZero() {
  const box = await byTestId('digit-canvas').boundingBox();
  const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
  const [rx, ry] = [box.width * 0.22, box.height * 0.36];
  await page.mouse.move(cx, cy - ry);
  await page.mouse.down();
  for (let step = 1; step <= 48; step++) {
    const angle = (2 * Math.PI * step) / 48;
    await page.mouse.move(cx + rx * Math.sin(angle), cy - ry * Math.cos(angle));
  }
  await page.mouse.up();
}

async function inferZero() {
  await byTestId('digit-clear').click();
  await drawZero();
  await byTestId('infer-button').click();
  await byTestId('receipt').waitFor();
}

async function verifyEntry(seq, tampering) {
  await byTestId('tamper').selectOption(tampering);
  await byTestId('verify-seq').fill(String(seq));
  await byTestId('verify-button').click();
  // The verdict of this request: the previous one is replaced when the proof arrives.
  await page.waitForFunction(
    ([s, t]) => {
      const verdict = document.querySelector('[data-testid="verdict"]');
      const banner = document.querySelector('[data-testid="tamper-banner"]');
      return verdict?.textContent.includes(`#${s} `) && (t === 'none') === !banner;
    },
    [String(seq), tampering],
  );
}

const checkStatuses = () =>
  page.$$eval('[data-testid="checklist"] li', (items) =>
    Object.fromEntries(items.map((li) => [li.dataset.testid.replace('check-', ''), li.dataset.status])),
  );

test('the page loads: canister, root key, identity and the digits model', async () => {
  await openPage();
  assert.equal(await byTestId('canister-id').innerText(), canisterId);
  assert.equal(await byTestId('connection-root-key').textContent(), rootKeyHex, 'the root key shown is the host’s');
  assert.match(await byTestId('principal').innerText(), /^[a-z0-9]{5}(-[a-z0-9]{1,5})+$/);
  await byTestId('model-digits').waitFor();
  assert.match(await byTestId('model-digits').innerText(), /pixels: f32\[.*64\]/);
  assert.equal(await byTestId('infer-model').inputValue(), 'digits');
  assert.equal(await byTestId('infer-mode').inputValue(), 'digit');
  await shot('01-loaded');
});

/** The page's first inference: after the install's code epoch (#0) and each uploaded model's
 * entry (kind 4), which run.sh's uploads logged. */
let firstSeq;

test('draw a digit and infer: outputs with labels, and the receipt', async () => {
  await inferZero();
  const receipt = await byTestId('receipt').innerText();
  firstSeq = Number(receipt.match(/seq\s+(\d+)/)[1]);
  assert.ok(firstSeq >= 3, `the epoch and at least two models' entries come first: #${firstSeq}`);
  assert.match(receipt, /model\s+digits/);
  assert.match(receipt, /input salted\s+yes/);
  assert.match(receipt, new RegExp(`caller\\s+${(await byTestId('principal').innerText()).replaceAll('-', '\\-')}`));
  const top = await byTestId('top-label').innerText();
  assert.equal(top, '0', 'the drawn zero is read as 0');
  await shot('02-receipt');
});

test('verify the receipt in the browser: every check passes, against the host’s root key', async () => {
  await byTestId('verify-receipt').click();
  await page.waitForSelector('[data-testid="verdict"]');
  assert.equal(await byTestId('verdict').getAttribute('data-verdict'), 'verified', await byTestId('verify-result').innerText());
  assert.deepEqual(await checkStatuses(), {
    certificate: 'passed',
    freshness: 'passed',
    witness: 'passed',
    entry: 'passed',
    inclusion: 'passed',
    consistency: 'passed',
    'input-hash': 'passed',
    'output-hash': 'passed',
    // The page holds no model file to hash: not proven, and said so.
    model: 'skipped',
    // The code the canister runs now, from a certified read_state.
    'module-hash': 'passed',
    controllers: 'passed',
  });
  assert.equal(await byTestId('root-key').textContent(), rootKeyHex);
  assert.match(await byTestId('statement').innerText(), new RegExp(`Entry #${firstSeq} is in that log`));
  // The code that wrote it: the install's code epoch (entry #0), proven as the entry is.
  await page.waitForFunction(() => document.querySelector('[data-testid="verify-module"]')?.dataset.status);
  assert.equal(await byTestId('verify-module').getAttribute('data-status'), 'passed', await byTestId('verify-module').innerText());
  assert.match(await byTestId('verify-module').innerText(), /^Written by module [0-9a-f]{64} .*code epoch from entry #0 \(install/);
  await shot('03-verified');
  await shot('03-verified-section', 'verify');
});

test('tampered proofs are rejected, each by the check that catches it', async () => {
  // A second entry, so that the first inference's inclusion proof has a node to flip.
  await inferZero();
  const seq = firstSeq;
  await verifyEntry(seq, 'none');
  assert.equal(await byTestId('verdict').getAttribute('data-verdict'), 'verified');
  const expected = {
    'inclusion-proof': ['inclusion', /leads to root/],
    'entry-bytes': ['entry', /not the canonical encoding/],
    // The page holds this entry's receipt from infer, so the forgery is caught there first
    // (without a receipt, the inclusion proof catches it: see the next test).
    'forged-entry': ['entry', /not the receipt/],
    witness: ['witness', /certified data/],
    certificate: ['certificate', /signature/i],
  };
  for (const [tampering, [check, reason]] of Object.entries(expected)) {
    await verifyEntry(seq, tampering);
    assert.equal(await byTestId('verdict').getAttribute('data-verdict'), 'rejected', tampering);
    const statuses = await checkStatuses();
    assert.equal(statuses[check], 'failed', `${tampering}: ${JSON.stringify(statuses)}`);
    assert.match(await byTestId('verdict-reason').innerText(), reason, tampering);
    await shot(`04-tampered-${tampering}`, 'verify');
  }
});

test('?tamper=inclusion-proof preselects the demonstration; a forged entry fails inclusion', async () => {
  await openPage('?tamper=inclusion-proof');
  await byTestId('verify-seq').fill(String(firstSeq));
  await byTestId('verify-button').click();
  await page.waitForSelector('[data-testid="verdict"]');
  assert.equal(await byTestId('verdict').getAttribute('data-verdict'), 'rejected');
  assert.equal((await checkStatuses()).inclusion, 'failed');
  // A reloaded page no longer holds the tensors: the hash checks are not run, not passed.
  assert.equal((await checkStatuses())['input-hash'], 'not-run');
  await shot('05-tamper-url-flag', 'verify');
  // Nor the receipt: a forged entry (fields and bytes alike) is caught by the inclusion proof.
  await verifyEntry(firstSeq, 'forged-entry');
  assert.equal((await checkStatuses()).inclusion, 'failed');
  assert.match(await byTestId('verdict-reason').innerText(), /leads to root/);
  await verifyEntry(firstSeq, 'none');
  assert.equal(await byTestId('verdict').getAttribute('data-verdict'), 'verified');
  assert.equal((await checkStatuses())['input-hash'], 'skipped');
});

test('JSON tensors: the reference image of a 1, typed as JSON, reads as 1 and verifies', async () => {
  await openPage();
  await byTestId('infer-mode').selectOption('json');
  const case0 = [
    0, 0, 0, 0, 11, 14, 3, 0, 0, 0, 0, 2, 16, 16, 2, 0, 0, 0, 0, 11, 16, 14, 0, 0, 0, 0, 3, 16, 16, 15, 0, 0,
    0, 1, 13, 16, 16, 13, 0, 0, 0, 6, 16, 9, 15, 13, 0, 0, 0, 0, 0, 0, 12, 16, 1, 0, 0, 0, 0, 0, 9, 14, 1, 0,
  ].map((v) => v / 16);
  await byTestId('infer-json').fill(JSON.stringify([{ name: 'pixels', dtype: 'f32', shape: [1, 64], data: case0 }]));
  await byTestId('infer-button').click();
  await byTestId('receipt').waitFor();
  assert.equal(await byTestId('top-label').innerText(), '1');
  await byTestId('verify-receipt').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict"]')?.dataset.verdict === 'verified');
  assert.equal((await checkStatuses())['input-hash'], 'passed');
  await shot('06-json-verified', 'verify');
});

/**
 * Draws a PNG in the browser itself (each step sets a 2D context property or calls one of its
 * methods), picks it in the image input, and waits until the preview holds it: decoding the
 * picture is asynchronous.
 */
async function pickPicture(name, width, height, steps) {
  const png = await page.evaluate(async ({ width, height, steps }) => {
    const canvas = new OffscreenCanvas(width, height);
    const c = canvas.getContext('2d');
    for (const [key, ...args] of steps) {
      if (typeof c[key] === 'function') c[key](...args);
      else c[key] = args[0];
    }
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
    return Array.from(bytes);
  }, { width, height, steps });
  await byTestId('image-file').setInputFiles({ name, mimeType: 'image/png', buffer: Buffer.from(png) });
  await page.waitForFunction(() => {
    const canvas = document.querySelector('.image-preview');
    return canvas.getContext('2d').getImageData(0, 0, 1, 1).data[3] === 255;
  });
}

test('an image model: a picture resized and normalised in the page, verified', async (t) => {
  await openPage();
  // The model list first: until it is shown, no model is.
  await byTestId('model-digits').waitFor();
  if ((await byTestId('model-ppocr-cls').count()) === 0) {
    t.skip('ppocr-cls is not uploaded (models/fetch_registry.py fetches it)');
    return;
  }
  await byTestId('infer-model').selectOption('ppocr-cls');
  assert.equal(await byTestId('infer-mode').inputValue(), 'image');
  // A dark line of "text" on white.
  await pickPicture('line.png', 384, 96, [
    ['fillStyle', '#fff'],
    ['fillRect', 0, 0, 384, 96],
    ['fillStyle', '#111'],
    ['font', 'bold 56px sans-serif'],
    ['fillText', 'icinfer 42', 16, 68],
  ]);
  await byTestId('infer-button').click();
  await byTestId('receipt').waitFor();
  assert.match(await byTestId('top-label').innerText(), /upright|upside down/);
  await byTestId('verify-receipt').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict"]')?.dataset.verdict === 'verified');
  assert.equal((await checkStatuses())['input-hash'], 'passed');
  await shot('07-image-model');
});

test('a u8 image model: the pixels of the picture as they are, verified', async () => {
  await openPage();
  await byTestId('infer-model').selectOption('pixels');
  assert.equal(await byTestId('infer-mode').inputValue(), 'image');
  assert.equal(await byTestId('image-mean').count(), 0, 'no normalisation for a u8 input');
  // Two colours side by side, at the model's 16×16.
  await pickPicture('halves.png', 16, 16, [
    ['fillStyle', 'rgb(10, 200, 30)'],
    ['fillRect', 0, 0, 16, 16],
    ['fillStyle', 'rgb(250, 0, 128)'],
    ['fillRect', 8, 0, 8, 16],
  ]);
  // The means of the pixels the page holds, which the model must return exactly (sums of
  // 256 bytes and a division by 256 are exact in f32).
  const expected = await page.evaluate(() => {
    const { data } = document.querySelector('.image-preview').getContext('2d').getImageData(0, 0, 16, 16);
    const sums = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sums[c] += data[i + c];
    return sums.map((s) => s / 256);
  });
  assert.ok(expected[0] > 100 && expected[1] > 80, `two colours: ${expected}`);
  await byTestId('infer-button').click();
  await byTestId('receipt').waitFor();
  const shown = expected.map((v) => (Number.isInteger(v) ? String(v) : v.toFixed(4))).join(', ');
  assert.equal(await byTestId('output-channel_means').locator('code.values').innerText(), `[${shown}]`);
  await byTestId('verify-receipt').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict"]')?.dataset.verdict === 'verified');
  assert.equal((await checkStatuses())['input-hash'], 'passed');
});

test('the log pages and searches by input hash, output hash and caller', async () => {
  await openPage();
  await byTestId('log-entry-0').waitFor();
  const [, size] = (await byTestId('log-summary').innerText()).match(/Entries 0–\d+ of (\d+)\./);
  assert.ok(Number(size) >= 3, `${size} entries`);
  assert.equal(await page.locator('[data-testid^="log-entry-"]').count(), Number(size));
  // The input hashes differ (fresh nonces); the two drawn zeros share their output hash.
  await byTestId('verify-seq').fill(String(firstSeq));
  await byTestId('verify-button').click();
  await page.waitForSelector('[data-testid="verdict"]');
  const inputHash = await page.locator('#verify [data-testid="entry-input-hash"]').textContent();
  const outputHash = await page.locator('#verify [data-testid="entry-output-hash"]').textContent();
  const search = async (kind, text, expected) => {
    await byTestId('log-filter').selectOption(kind);
    await byTestId('log-query').fill(text);
    await byTestId('log-search').click();
    await page.waitForFunction((e) => document.querySelector('[data-testid="log-summary"]').textContent.startsWith(e), expected);
  };
  await search('input_hash', inputHash, '1 entry with this input hash');
  assert.equal(await page.locator('[data-testid^="log-entry-"]').count(), 1);
  await search('output_hash', outputHash, '2 entries with this output hash');
  // Every entry from the first inference on: the code epoch's caller is the canister
  // itself, the models' entries the CLI's identity that uploaded them.
  await search('caller', await byTestId('principal').innerText(), `${Number(size) - firstSeq} entries with this caller`);
  await shot('08-log', 'log');
  await search('output_hash', 'not hex', '');
  await byTestId('log-error').waitFor();
  assert.equal(await page.locator('[data-testid^="log-entry-"]').count(), 0);
});

// Last: the CLI's entries have another caller than the page's (the log test counts them).
/**
 * Infers `model` on the repository's test picture (a PNG without a colour profile) in the
 * page, then the same picture with the same nonce through the CLI: the two input hashes
 * must be one, since both clients preprocess with crates/preprocess.
 */
async function pageAndCliAgree(model) {
  const picture = join(repo, 'crates/preprocess/testdata/picture.png');
  await openPage();
  await byTestId('infer-model').selectOption(model);
  assert.equal(await byTestId('infer-mode').inputValue(), 'image');
  await byTestId('image-file').setInputFiles(picture);
  await page.waitForFunction(() => document.querySelector('.image-preview').getContext('2d').getImageData(0, 0, 1, 1).data[3] === 255);
  await byTestId('infer-button').click();
  await byTestId('receipt').waitFor();
  const nonce = await byTestId('receipt-nonce').textContent();
  const pageHash = await page.locator('[data-testid="receipt"] [data-testid="entry-input-hash"]').textContent();
  const cli = JSON.parse(
    execFileSync(env('ICINFER_BIN'), ['infer', model, '-i', picture, '--nonce', nonce, '--json'], {
      env: { ...process.env, ICINFER_NETWORK: url, ICINFER_CANISTER: canisterId },
      encoding: 'utf8',
    }),
  );
  assert.equal(cli.receipt.input_hash, pageHash, `${model}: the page and the CLI hash the same picture alike`);
}

test('the same picture gives the same input hash in the page and in the CLI', async (t) => {
  await pageAndCliAgree('pixels');
  await byTestId('model-digits').waitFor();
  if ((await byTestId('model-ppocr-cls').count()) === 0) {
    t.diagnostic('ppocr-cls is not uploaded: only the u8 model was compared');
    return;
  }
  await pageAndCliAgree('ppocr-cls');
});

test('a labelled output: the bundle and the file dropped on the page verify; a changed byte does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'icinfer-label-'));
  try {
    const cli = (args) =>
      execFileSync(env('ICINFER_BIN'), args, { env: { ...process.env, ICINFER_NETWORK: url, ICINFER_CANISTER: canisterId }, encoding: 'utf8' });
    const receipt = join(dir, 'receipt');
    cli(['infer', 'digits', '-i', join(repo, 'models/digits/reference/case0_in_pixels.npy'), '--save', receipt]);
    const content = join(dir, 'outputs.bin');
    cli(['label', content, '--receipt', receipt]);
    await openPage();
    // The log names entry #0 by its kind: the install's code epoch and its module.
    await byTestId('log-what-0').waitFor();
    assert.match(await byTestId('log-what-0').innerText(), /^code epoch: module [0-9a-f]{8}…[0-9a-f]{8} \(install\)$/);
    await byTestId('bundle-file').setInputFiles(`${content}.provenance.json`);
    await byTestId('bundle-content').setInputFiles(content);
    await byTestId('bundle-button').click();
    await byTestId('bundle-verdict').waitFor();
    assert.equal(await byTestId('bundle-verdict').getAttribute('data-verdict'), 'verified', await byTestId('bundle-result').innerText());
    assert.equal(await byTestId('bundle-attribution').getAttribute('data-status'), 'passed');
    assert.equal(await byTestId('bundle-content-check').getAttribute('data-status'), 'passed');
    assert.match(await byTestId('bundle-module').innerText(), /^Written by module [0-9a-f]{64} /);
    await shot('10-bundle-verified', 'bundle');

    const changed = readFileSync(content);
    changed[changed.length - 1] ^= 1;
    writeFileSync(content, changed);
    await byTestId('bundle-content').setInputFiles(content);
    await byTestId('bundle-button').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="bundle-verdict"]')?.dataset.verdict === 'rejected');
    assert.equal(await byTestId('bundle-verdict').getAttribute('data-reason'), 'output-hash-mismatch');
    await shot('11-bundle-rejected', 'bundle');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
