// A minimal element builder: the page has a few dynamic views and no framework.

export type Child = Node | string | number | bigint | null | undefined | false;

type Props = Record<string, unknown> & {
  class?: string;
  /** Rendered as data-testid: the browser tests find elements by it. */
  testid?: string;
};

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = String(value);
    else if (key === 'testid') element.dataset.testid = String(value);
    else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key in element && typeof value !== 'string') {
      (element as unknown as Record<string, unknown>)[key] = value;
    } else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Array<Child | Child[]>): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function fill(parent: Element, ...children: Array<Child | Child[]>): void {
  parent.replaceChildren();
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** A full hex value that wraps, in a monospace span, with a copy-friendly title. */
export function hexValue(hex: string, testid?: string): HTMLElement {
  return h('code', { class: 'hex', title: hex, testid }, hex);
}

export function errorBox(message: string, testid?: string): HTMLElement {
  return h('p', { class: 'error', role: 'alert', testid }, message);
}
