// @icp-sdk/core (agent-js) against icinfer-http, with query-signature verification on.
//
// Started by crates/http/tests/node.rs, which serves a host with host-test-canister installed
// and passes: ICINFER_URL, ICINFER_CANISTER, ICINFER_ROOT_KEY (hex DER), ICINFER_MODULE_HASH
// (hex) and ICINFER_CONTROLLER (text). Exits non-zero on the first failed check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Actor, HttpAgent, CanisterStatus, pollForResponse } from '@icp-sdk/core/agent';
import {
  Ed25519KeyIdentity,
  ECDSAKeyIdentity,
  DelegationChain,
  DelegationIdentity,
} from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through crates/http/tests/node.rs)`);
  return v;
};
const host = env('ICINFER_URL');
const canisterId = Principal.fromText(env('ICINFER_CANISTER'));
const rootKeyHex = env('ICINFER_ROOT_KEY');
const moduleHashHex = env('ICINFER_MODULE_HASH');
const controller = env('ICINFER_CONTROLLER');

const hex = (bytes) => Buffer.from(bytes).toString('hex');

const idlFactory = ({ IDL }) =>
  IDL.Service({
    greet: IDL.Func([IDL.Text], [IDL.Text], ['query']),
    whoami: IDL.Func([], [IDL.Principal], ['query']),
    whoami_update: IDL.Func([], [IDL.Principal], []),
    set_heap: IDL.Func([IDL.Nat64], [], []),
    get_heap: IDL.Func([], [IDL.Nat64], ['query']),
    callee_trap: IDL.Func([], [IDL.Text], []),
  });

async function agentFor(identity) {
  const agent = await HttpAgent.create({
    host,
    identity,
    shouldFetchRootKey: true,
    verifyQuerySignatures: true,
  });
  assert.equal(hex(agent.rootKey), rootKeyHex, 'the root key fetched from /api/v2/status');
  return agent;
}

const identities = async () => [
  ['ed25519', Ed25519KeyIdentity.generate(new Uint8Array(32).fill(11))],
  ['secp256k1', Secp256k1KeyIdentity.generate(new Uint8Array(32).fill(12))],
  ['ecdsa p-256', await ECDSAKeyIdentity.generate({ extractable: false })],
];

test('queries and updates verify, and the canister sees the identity', async () => {
  for (const [name, identity] of await identities()) {
    const agent = await agentFor(identity);
    const actor = Actor.createActor(idlFactory, { agent, canisterId });
    assert.equal(await actor.greet(name), `Hello, ${name}!`);
    const me = identity.getPrincipal().toText();
    assert.equal((await actor.whoami()).toText(), me, `${name}: query caller`);
    assert.equal((await actor.whoami_update()).toText(), me, `${name}: update caller`);
    await actor.set_heap(BigInt(name.length));
    assert.equal(await actor.get_heap(), BigInt(name.length));
  }
});

test('a delegation chain authenticates the delegating principal', async () => {
  const root = Ed25519KeyIdentity.generate(new Uint8Array(32).fill(13));
  const session = await ECDSAKeyIdentity.generate({ extractable: false });
  const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 600_000), {
    targets: [canisterId],
  });
  const identity = DelegationIdentity.fromDelegation(session, chain);
  const agent = await agentFor(identity);
  const actor = Actor.createActor(idlFactory, { agent, canisterId });
  assert.equal((await actor.whoami_update()).toText(), root.getPrincipal().toText());
});

test('an asynchronous (v2) call, then polling read_state', async () => {
  const identity = Ed25519KeyIdentity.generate(new Uint8Array(32).fill(14));
  const agent = await agentFor(identity);
  const arg = IDL.encode([IDL.Nat64], [77n]);
  const { requestId, response } = await agent.call(canisterId, {
    methodName: 'set_heap',
    arg,
    callSync: false,
  });
  assert.equal(response.status, 202);
  const { reply } = await pollForResponse(agent, canisterId, requestId);
  assert.equal(Buffer.from(reply.slice(0, 4)).toString(), 'DIDL', 'a Candid reply');
  const actor = Actor.createActor(idlFactory, { agent, canisterId });
  assert.equal(await actor.get_heap(), 77n);
});

test('a trap is a certified reject', async () => {
  const agent = await agentFor(Ed25519KeyIdentity.generate(new Uint8Array(32).fill(15)));
  const actor = Actor.createActor(idlFactory, { agent, canisterId });
  await assert.rejects(actor.callee_trap(), (e) => {
    assert.match(String(e), /callee trapped on purpose/);
    return true;
  });
});

test('module hash, controllers and time through read_state', async () => {
  const agent = await agentFor(Ed25519KeyIdentity.generate(new Uint8Array(32).fill(16)));
  const status = await CanisterStatus.request({
    canisterId,
    agent,
    paths: ['module_hash', 'controllers', 'time'],
  });
  assert.equal(status.get('module_hash'), moduleHashHex);
  assert.deepEqual(
    status.get('controllers').map((p) => p.toText()),
    [controller],
  );
  const time = status.get('time');
  assert.ok(Math.abs(time.getTime() - Date.now()) < 5 * 60_000, `fresh /time: ${time}`);
});
