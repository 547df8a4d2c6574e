// The page: resolve the canister and host, set up the identity and the agent, then the
// views. See README.md ("Frontend") for how it is served and configured.

import './style.css';
import type { App } from './app';
import { resolveConfig } from './config';
import { connect } from './connection';
import { byId, errorBox, fill, h } from './dom';
import { identityProviders } from './identity';
import { errorText } from './verify/certificate';
import { CheckTextView } from './views/check-text';
import { GenerateView } from './views/generate';
import { ConnectionView, IdentityView } from './views/header';
import { InferView } from './views/infer';
import { LogView } from './views/log';
import { ModelsView } from './views/models';
import { BundleView } from './views/bundle';
import { VerifyView } from './views/verify';
import { parseRelease, type Release } from './verify/release';

async function main(): Promise<void> {
  const root = byId('app');
  fill(root, h('p', { class: 'hint' }, 'Connecting…'));
  const config = await resolveConfig();
  const providers = identityProviders();
  const provider = providers[0];
  const connection = await connect(config, await provider.identity());

  // The views are created below; the app's actions reach them through these.
  let infer: InferView, log: LogView, verify: VerifyView;
  const app: App = {
    config,
    connection,
    models: [],
    openings: new Map(),
    releases: await knownReleases(),
    verify: (seq) => void verify.verify(seq),
    refreshLog: () => void log.refresh(),
    useModel: (id) => infer.select(id),
  };
  infer = new InferView(app);
  const generate = new GenerateView(app);
  const checkText = new CheckTextView(app);
  log = new LogView(app);
  verify = new VerifyView(app, new URLSearchParams(window.location.search).get('tamper'));
  const models = new ModelsView(app, (list) => (infer.setModels(list), generate.setModels(list)));
  const identity = new IdentityView(app, providers, provider, () => void log.refresh());

  fill(
    root,
    h('div', { class: 'columns' }, new ConnectionView(app).element, identity.element),
    models.element,
    infer.element,
    generate.element,
    checkText.element,
    log.element,
    verify.element,
    new BundleView(app).element,
  );
  document.body.dataset.ready = 'true';
  await Promise.all([models.load(), log.refresh()]);
}

/** A release manifest served beside the page (release.json), if any: it names the module. */
async function knownReleases(): Promise<Release[]> {
  try {
    const response = await fetch('release.json');
    return response.ok ? [parseRelease(await response.text())] : [];
  } catch {
    return [];
  }
}

main().catch((e) => {
  fill(byId('app'), errorBox(`The page could not start: ${errorText(e)}`, 'startup-error'));
  document.body.dataset.ready = 'error';
});
