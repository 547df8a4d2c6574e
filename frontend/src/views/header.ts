// The connection (host, canister, root key) and the identity the page calls as.

import type { App } from '../app';
import { fill, h, hexValue } from '../dom';
import type { IdentityProvider } from '../identity';
import { errorText } from '../verify/certificate';
import { toHex } from '../verify/bytes';

export class ConnectionView {
  readonly element: HTMLElement;

  constructor(app: App) {
    const { config, connection } = app;
    this.element = h(
      'section',
      { id: 'connection' },
      h('h2', null, 'Connection'),
      h(
        'table',
        { class: 'fields' },
        h(
          'tbody',
          null,
          h('tr', null, h('th', null, 'IC API'), h('td', null, h('code', { testid: 'host' }, config.host), config.mainnet ? ' (IC mainnet)' : ' (local network)')),
          h('tr', null, h('th', null, 'canister'), h('td', null, h('code', { testid: 'canister-id' }, config.canisterId.toText()), h('div', { class: 'hint' }, `from ${config.canisterSource}`))),
          h(
            'tr',
            null,
            h('th', null, 'root key'),
            h('td', null, h('details', null, h('summary', null, connection.rootKeySource), hexValue(toHex(connection.rootKey), 'connection-root-key'))),
          ),
        ),
      ),
    );
  }
}

export class IdentityView {
  readonly element: HTMLElement;
  private readonly principal: HTMLElement;
  private readonly message: HTMLElement;

  constructor(
    private readonly app: App,
    providers: IdentityProvider[],
    private current: IdentityProvider,
    private readonly onChanged: () => void,
  ) {
    this.principal = h('code', { testid: 'principal' });
    this.message = h('span', { class: 'hint' });
    this.element = h(
      'section',
      { id: 'identity' },
      h('h2', null, 'Identity'),
      h('p', null, 'Principal: ', this.principal, h('span', { class: 'hint' }, ` (${current.label})`)),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', testid: 'new-identity', onclick: () => void this.replaceKey() }, 'New key (forget this one)'),
        providers
          .filter((p) => p !== current)
          .map((p) =>
            h('button', { type: 'button', disabled: Boolean(p.unavailable), title: p.unavailable ?? '', onclick: () => void this.switchTo(p) }, `Sign in with ${p.label}`),
          ),
        this.message,
      ),
      providers
        .filter((p) => p.unavailable)
        .map((p) => h('p', { class: 'hint' }, `${p.label}: ${p.unavailable}.`)),
    );
    this.show();
  }

  private show(): void {
    void this.app.connection.agent.getPrincipal().then((p) => fill(this.principal, p.toText()));
  }

  private async replaceKey(): Promise<void> {
    await this.current.forget();
    await this.switchTo(this.current);
  }

  private async switchTo(provider: IdentityProvider): Promise<void> {
    try {
      const identity = await provider.identity();
      this.app.connection.agent.replaceIdentity(identity);
      this.current = provider;
      fill(this.message, '');
      this.show();
      this.onChanged();
    } catch (e) {
      fill(this.message, errorText(e));
    }
  }
}
