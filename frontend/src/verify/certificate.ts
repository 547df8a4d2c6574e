// The IC certificate of a log head, checked with @icp-sdk/core's Certificate: the BLS12-381
// signature over the state tree under the root key, or under a subnet key that a delegation
// certifies (signed by the root key, no nested delegation, the canister inside the subnet's
// canister ranges). Freshness is checked here rather than by the library so that the page
// can state the certificate's age as its own line of the checklist.

import { Certificate, LookupPathStatus, type VerifyFunc } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import { decodeLeb128 } from './head';

export interface VerifiedCertificate {
  /** /canister/<id>/certified_data */
  certifiedData: Uint8Array;
  /** /time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  /** The subnet the root key delegated to, if the certificate carries a delegation. */
  delegatedSubnet?: Principal;
}

export class CertificateError extends Error {}

export async function verifyCertificate(
  certificate: Uint8Array,
  rootKeyDer: Uint8Array,
  canisterId: Principal,
  blsVerify?: VerifyFunc,
): Promise<VerifiedCertificate> {
  let verified: Certificate;
  try {
    verified = await Certificate.create({
      certificate,
      rootKey: rootKeyDer,
      principal: { canisterId },
      blsVerify,
      disableTimeVerification: true,
    });
  } catch (e) {
    throw new CertificateError(errorText(e));
  }
  const lookup = (path: Array<string | Uint8Array>, what: string): Uint8Array => {
    const result = verified.lookup_path(path);
    if (result.status !== LookupPathStatus.Found) {
      throw new CertificateError(`the certificate has no ${what} (${result.status})`);
    }
    return result.value;
  };
  const certifiedData = lookup(
    ['canister', canisterId.toUint8Array(), 'certified_data'],
    `/canister/${canisterId.toText()}/certified_data`,
  );
  const timeNs = decodeLeb128(lookup(['time'], '/time'));
  if (timeNs === null) throw new CertificateError('the certificate /time is not a LEB128 number');
  const subnet = verified.cert.delegation?.subnet_id;
  return {
    certifiedData,
    timeNs,
    delegatedSubnet: subnet ? Principal.fromUint8Array(subnet) : undefined,
  };
}

/** agent-js errors keep their explanation in the message; anything else gets its string. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
