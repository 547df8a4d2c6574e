// The IC certificate of a log head (and of a read_state of the canister's module hash and
// controllers), checked with @icp-sdk/core's Certificate: the BLS12-381
// signature over the state tree under the root key, or under a subnet key that a delegation
// certifies (signed by the root key, no nested delegation, the canister inside the subnet's
// canister ranges). The Rust original is crates/verify/src/certificate.rs; failures carry its
// reason codes, mapped from agent-js's error codes, so that both report the same reason for
// every case of testdata/verifier.json. Freshness is checked by the verifier, as its own check.
//
// One difference stays: when a delegation's certificate holds canister ranges in both the
// flat and the sharded format, agent-js reads the sharded one only; Rust requires both to
// contain the canister (the IC serves one format per certificate).

import {
  CertificateHasTooManyDelegationsErrorCode,
  CertificateNotAuthorizedErrorCode,
  CertificateVerificationErrorCode,
  Certificate,
  LookupErrorCode,
  LookupPathStatus,
  MissingLookupValueErrorCode,
  type VerifyFunc,
} from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import { bytesEqual, concatBytes, decodeIcCbor, fromHex } from './bytes';
import { decodeLeb128 } from './head';

/** DER prefix of an IC BLS12-381 public key, followed by the 96-byte compressed G2 point. */
const BLS_KEY_DER_PREFIX = fromHex('308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100');

/** Certificates larger than this are refused before decoding (as the Rust verifier does). */
export const MAX_CERTIFICATE_BYTES = 1 << 20;

export interface VerifiedCertificate {
  /** /canister/<id>/certified_data */
  certifiedData: Uint8Array;
  /** /time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  /** The subnet the root key delegated to, if the certificate carries a delegation. */
  delegatedSubnet?: Principal;
}

/** The reason codes of the Rust CertificateError (`reason()`). */
export type CertificateReason =
  | 'certificate-too-large'
  | 'malformed-certificate'
  | 'malformed-root-key'
  | 'nested-delegation'
  | 'missing-subnet-key'
  | 'missing-canister-ranges'
  | 'canister-out-of-range'
  | 'invalid-signature'
  | 'missing-time'
  | 'missing-certified-data';

export class CertificateError extends Error {
  constructor(
    readonly reason: CertificateReason,
    message: string,
  ) {
    super(message);
  }
}

/** The root key as DER: given DER (133 bytes) or raw (96 bytes), as the Rust verifier takes it. */
function rootKeyDer(key: Uint8Array): Uint8Array {
  if (key.length === 96) return concatBytes(BLS_KEY_DER_PREFIX, key);
  if (key.length === 133 && bytesEqual(key.subarray(0, 37), BLS_KEY_DER_PREFIX)) return key;
  throw new CertificateError('malformed-root-key', 'the root key is not a BLS12-381 public key (DER or 96 raw bytes)');
}

/** The reason code of an error agent-js raised while verifying a certificate. */
function reasonOf(e: unknown): CertificateReason {
  const code = (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (code instanceof CertificateNotAuthorizedErrorCode) return 'canister-out-of-range';
  if (code instanceof LookupErrorCode) return 'missing-canister-ranges';
  if (code instanceof MissingLookupValueErrorCode) return 'missing-subnet-key';
  if (code instanceof CertificateHasTooManyDelegationsErrorCode) return 'nested-delegation';
  if (code instanceof CertificateVerificationErrorCode) {
    if (code.reason === 'Certificate does not contain a time') return 'missing-time';
    if (code.reason === 'Signature verification failed' || code.reason === 'Invalid signature') return 'invalid-signature';
  }
  return 'malformed-certificate';
}

/** A certificate whose signature (and delegation) verified, its /time, and its lookups. */
interface SignedTree {
  lookup(path: Array<string | Uint8Array>): Uint8Array | undefined;
  timeNs: bigint;
  delegatedSubnet?: Principal;
}

export async function verifyCertificate(
  certificate: Uint8Array,
  rootKey: Uint8Array,
  canisterId: Principal,
  blsVerify?: VerifyFunc,
): Promise<VerifiedCertificate> {
  const signed = await verifySignedTree(certificate, rootKey, canisterId, blsVerify);
  const certifiedData = signed.lookup(['canister', canisterId.toUint8Array(), 'certified_data']);
  if (!certifiedData) {
    throw new CertificateError('missing-certified-data', `the certificate holds no certified data for ${canisterId.toText()}`);
  }
  return { certifiedData, timeNs: signed.timeNs, delegatedSubnet: signed.delegatedSubnet };
}

/** What a read_state certificate of /canister/<id>/module_hash and /controllers holds. */
export interface VerifiedCodeState {
  timeNs: bigint;
  delegatedSubnet?: Principal;
  moduleHash?: Uint8Array;
  /** CBOR (tag 55799) of an array of principals' bytes. */
  controllers?: Uint8Array;
}

/** The certificate of a read_state of the canister's module hash and controllers, checked
 * as a data certificate is (crates/verify: `verify_code_certificate`). */
export async function verifyCodeCertificate(
  certificate: Uint8Array,
  rootKey: Uint8Array,
  canisterId: Principal,
  blsVerify?: VerifyFunc,
): Promise<VerifiedCodeState> {
  const signed = await verifySignedTree(certificate, rootKey, canisterId, blsVerify);
  const at = (name: string) => signed.lookup(['canister', canisterId.toUint8Array(), name]);
  return {
    timeNs: signed.timeNs,
    delegatedSubnet: signed.delegatedSubnet,
    moduleHash: at('module_hash'),
    controllers: at('controllers'),
  };
}

/** The controllers in the CBOR the IC certifies: an array of byte strings, each a principal. */
export function decodeControllers(cbor: Uint8Array): Principal[] {
  const list = decodeIcCbor<unknown>(cbor);
  if (!Array.isArray(list)) throw new Error('controllers: not a CBOR array');
  return list.map((item) => {
    if (!(item instanceof Uint8Array) || item.length > 29) throw new Error('controllers: not a principal');
    return Principal.fromUint8Array(item);
  });
}

async function verifySignedTree(
  certificate: Uint8Array,
  rootKey: Uint8Array,
  canisterId: Principal,
  blsVerify?: VerifyFunc,
): Promise<SignedTree> {
  const der = rootKeyDer(rootKey);
  if (certificate.length > MAX_CERTIFICATE_BYTES) {
    throw new CertificateError('certificate-too-large', `certificate of ${certificate.length} bytes exceeds ${MAX_CERTIFICATE_BYTES} bytes`);
  }
  let verified: Certificate;
  try {
    const outer = decodeIcCbor<{ delegation?: { certificate?: Uint8Array } }>(certificate);
    const inner = outer.delegation?.certificate;
    if (inner) decodeIcCbor(inner);
    verified = await Certificate.create({
      certificate,
      rootKey: der,
      principal: { canisterId },
      blsVerify,
      disableTimeVerification: true,
    });
  } catch (e) {
    throw new CertificateError(reasonOf(e), errorText(e));
  }
  const lookup = (path: Array<string | Uint8Array>): Uint8Array | undefined => {
    const result = verified.lookup_path(path);
    return result.status === LookupPathStatus.Found ? result.value : undefined;
  };
  const time = lookup(['time']);
  const timeNs = time ? decodeLeb128(time) : null;
  if (timeNs === null) throw new CertificateError('missing-time', 'the certificate has no valid /time');
  const subnet = verified.cert.delegation?.subnet_id;
  return {
    lookup,
    timeNs,
    delegatedSubnet: subnet ? Principal.fromUint8Array(subnet) : undefined,
  };
}

/** agent-js errors keep their explanation in the message; anything else gets its string. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
