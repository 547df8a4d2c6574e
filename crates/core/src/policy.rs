//! The inference policy: who may run inferences (`infer`, `infer_start`, `generate_start`)
//! and how much, per caller and for all callers together, in fixed windows of time.
//!
//! Principals cost nothing to make, so a per-caller quota alone bounds nothing: the global
//! quota is what caps the canister's spending. Controllers are exempt from both access and
//! quotas, so that a policy can never lock its owners out.
//!
//! Two stable memories (crate::memory, added in layout 5):
//!
//! ```text
//! POLICY (a StableCell):  "SCL" cell header | version=1 | Candid(InferencePolicy)
//! QUOTA_USAGE (a BTreeMap):
//!   key   = window start, ns, big-endian (8) | scope: 0 global, 1 caller (1) | principal (≤ 29)
//!   value = calls (8, LE) | instructions (8, LE)
//! ```
//!
//! Usage is keyed by its window's start first, so the entries of windows that are over sort
//! first: each charge removes up to [`PRUNED_PER_CHARGE`] of them, and the map holds little
//! more than the callers of the current window. A call that returns an error is not
//! charged (it changed nothing); a job's instructions are charged when it finishes.
//!
//! The check costs nothing measurable when the policy is open without quotas (the default):
//! the policy is decoded once, into the heap, when the engine opens, and no stable memory
//! is read or written per call.

use crate::limits::{MAX_ALLOW_LIST, MAX_POLICY_WINDOW_SECONDS};
use crate::memory::LayoutError;
use candid::{Decode, Encode, Principal};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeMap, Cell, Memory, Storable};
use icinfer_api::{Access, Error, InferencePolicy, Quota};
use std::borrow::Cow;

/// The version of the stored policy record.
const RECORD_VERSION: u8 = 1;
/// Stale usage entries removed by each charge: more than the two (the caller's and the
/// global one) a charge can add, so that the map shrinks while a new window fills.
pub const PRUNED_PER_CHARGE: usize = 4;
const NS_PER_SECOND: u64 = 1_000_000_000;

/// The policy and its usage counters.
pub struct Policy<M: Memory> {
    record: Cell<PolicyRecord, M>,
    usage: BTreeMap<UsageKey, Usage, M>,
    /// The decoded policy, so that a call reads no stable memory to check it.
    current: InferencePolicy,
}

/// Who a call is metered as, once admitted: `None` when nothing is counted (no quota set,
/// or a controller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission(Option<Principal>);

impl<M: Memory> Policy<M> {
    /// A fresh policy (open, no quotas) in empty memories.
    pub fn new(record: M, usage: M) -> Self {
        let current = InferencePolicy::default();
        Policy {
            record: Cell::new(record, PolicyRecord::of(&current)),
            usage: BTreeMap::new(usage),
            current,
        }
    }

    /// The policy a previous build stored; refuses a record of a version this build does
    /// not read.
    pub fn open(record: M, usage: M) -> Result<Self, LayoutError> {
        let record = Cell::init(record, PolicyRecord::of(&InferencePolicy::default()));
        let current = record.get().decode()?;
        Ok(Policy {
            record,
            usage: BTreeMap::init(usage),
            current,
        })
    }

    pub fn get(&self) -> &InferencePolicy {
        &self.current
    }

    /// Replaces the policy after checking its bounds. Usage counted so far stays: a quota
    /// lowered below what a caller used refuses them until the window resets.
    pub fn set(&mut self, policy: InferencePolicy) -> Result<(), Error> {
        check(&policy)?;
        self.record.set(PolicyRecord::of(&policy));
        self.current = policy;
        Ok(())
    }

    /// The admission of every caller when the policy restricts no one (open, no quotas):
    /// then a call need not even ask who it is from.
    pub fn unrestricted(&self) -> Option<Admission> {
        let policy = &self.current;
        let metered = is_metered(&policy.per_caller) || is_metered(&policy.global);
        (policy.access == Access::Open && !metered).then_some(Admission(None))
    }

    /// Whether `caller` may start an inference now: the access rule, then the quotas.
    /// The one check of the policy, made by the methods and, earlier, by
    /// `canister_inspect_message` (crate::engine::inspect).
    pub fn admit(
        &self,
        caller: Principal,
        is_controller: impl FnOnce() -> bool,
        now_ns: u64,
    ) -> Result<Admission, Error> {
        if let Some(everyone) = self.unrestricted() {
            return Ok(everyone);
        }
        let policy = &self.current;
        let metered = is_metered(&policy.per_caller) || is_metered(&policy.global);
        if is_controller() {
            return Ok(Admission(None));
        }
        let required = match &policy.access {
            Access::Open => None,
            Access::Authenticated if caller == Principal::anonymous() => Some(
                "an authenticated caller (the inference policy refuses the anonymous principal)",
            ),
            Access::Authenticated => None,
            Access::AllowList(allowed) if !allowed.contains(&caller) => {
                Some("a principal on the inference policy's allow-list")
            }
            Access::AllowList(_) => None,
        };
        if let Some(required) = required {
            return Err(Error::Unauthorized {
                caller,
                required: required.into(),
            });
        }
        if !metered {
            return Ok(Admission(None));
        }
        let window = Window::at(policy.window_seconds, now_ns);
        for (scope, quota, key) in [
            ("per_caller", &policy.per_caller, window.key(Some(caller))),
            ("global", &policy.global, window.key(None)),
        ] {
            if !is_metered(quota) {
                continue;
            }
            let used = self.usage.get(&key).unwrap_or_default();
            for (name, max, used) in [
                ("max_calls", quota.max_calls, used.calls),
                (
                    "max_instructions",
                    quota.max_instructions,
                    used.instructions,
                ),
            ] {
                if let Some(max) = max
                    && used >= max
                {
                    return Err(Error::QuotaExceeded {
                        quota: format!("{scope}.{name}"),
                        max,
                        used,
                        resets_at_ns: window.end_ns(),
                    });
                }
            }
        }
        Ok(Admission(Some(caller)))
    }

    /// Counts `calls` and `instructions` against an admitted caller's and the global usage
    /// of the current window. Nothing is written when the admission is not metered.
    pub fn charge(&mut self, admission: Admission, now_ns: u64, calls: u64, instructions: u64) {
        let Admission(Some(caller)) = admission else {
            return;
        };
        let window = Window::at(self.current.window_seconds, now_ns);
        let mut scopes = Vec::with_capacity(2);
        if is_metered(&self.current.per_caller) {
            scopes.push(window.key(Some(caller)));
        }
        if is_metered(&self.current.global) {
            scopes.push(window.key(None));
        }
        for key in scopes {
            let mut used = self.usage.get(&key).unwrap_or_default();
            used.calls = used.calls.saturating_add(calls);
            used.instructions = used.instructions.saturating_add(instructions);
            self.usage.insert(key, used);
        }
        for _ in 0..PRUNED_PER_CHARGE {
            match self.usage.first_key_value() {
                Some((key, _)) if key.window_start_ns < window.start_ns => {
                    self.usage.remove(&key);
                }
                _ => break,
            }
        }
    }

    /// A metered caller's job finished: its instructions count now, against the window
    /// it finishes in (the job's caller need not be admitted again).
    pub fn charge_finished_job(&mut self, caller: Principal, now_ns: u64, instructions: u64) {
        let metered = is_metered(&self.current.per_caller) || is_metered(&self.current.global);
        if metered {
            self.charge(Admission(Some(caller)), now_ns, 0, instructions);
        }
    }

    /// Usage entries stored, stale ones included (tests and bounds).
    pub fn usage_entries(&self) -> u64 {
        self.usage.len()
    }
}

fn is_metered(quota: &Quota) -> bool {
    quota.max_calls.is_some() || quota.max_instructions.is_some()
}

/// The bounds of a policy a controller sets.
fn check(policy: &InferencePolicy) -> Result<(), Error> {
    if !(1..=MAX_POLICY_WINDOW_SECONDS).contains(&policy.window_seconds) {
        return Err(Error::InvalidArgument {
            field: "window_seconds".into(),
            reason: format!(
                "must be 1 to {MAX_POLICY_WINDOW_SECONDS} seconds, got {}",
                policy.window_seconds
            ),
        });
    }
    if let Access::AllowList(allowed) = &policy.access {
        crate::store::limit("MAX_ALLOW_LIST", MAX_ALLOW_LIST, allowed.len() as u64)?;
    }
    Ok(())
}

/// The fixed window holding an instant.
struct Window {
    start_ns: u64,
    length_ns: u64,
}

impl Window {
    fn at(window_seconds: u64, now_ns: u64) -> Self {
        // `set` keeps window_seconds within 1..=MAX_POLICY_WINDOW_SECONDS: no overflow.
        let length_ns = window_seconds * NS_PER_SECOND;
        Window {
            start_ns: now_ns - now_ns % length_ns,
            length_ns,
        }
    }

    fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.length_ns)
    }

    fn key(&self, caller: Option<Principal>) -> UsageKey {
        UsageKey {
            window_start_ns: self.start_ns,
            caller,
        }
    }
}

/// The stored policy: its version byte, then its Candid encoding.
struct PolicyRecord(Vec<u8>);

impl PolicyRecord {
    fn of(policy: &InferencePolicy) -> Self {
        let mut bytes = vec![RECORD_VERSION];
        bytes.extend(Encode!(policy).expect("the policy encodes"));
        PolicyRecord(bytes)
    }

    fn decode(&self) -> Result<InferencePolicy, LayoutError> {
        let version = self.0.first().copied().unwrap_or(0);
        if version != RECORD_VERSION {
            return Err(LayoutError::UnknownVersion {
                memory: "inference policy",
                version,
            });
        }
        Decode!(&self.0[1..], InferencePolicy).map_err(|e| LayoutError::Inconsistent {
            reason: format!("the stored inference policy does not decode: {e}"),
        })
    }
}

impl Storable for PolicyRecord {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        PolicyRecord(bytes.into_owned())
    }
    const BOUND: Bound = Bound::Unbounded;
}

/// A usage counter's key: its window, then the global counter (`None`) or a caller's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct UsageKey {
    window_start_ns: u64,
    caller: Option<Principal>,
}

impl Storable for UsageKey {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.clone().into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.window_start_ns.to_be_bytes().to_vec();
        match self.caller {
            None => bytes.push(0),
            Some(caller) => {
                bytes.push(1);
                bytes.extend_from_slice(caller.as_slice());
            }
        }
        bytes
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let window_start_ns = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let caller = (bytes[8] == 1).then(|| Principal::from_slice(&bytes[9..]));
        UsageKey {
            window_start_ns,
            caller,
        }
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 8 + 1 + 29,
        is_fixed_size: false,
    };
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    calls: u64,
    instructions: u64,
}

impl Storable for Usage {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.calls.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.instructions.to_le_bytes());
        bytes
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Usage {
            calls: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            instructions: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        }
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 16,
        is_fixed_size: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::VectorMemory;

    const SECOND: u64 = NS_PER_SECOND;

    fn alice() -> Principal {
        Principal::from_slice(&[0xa1; 29])
    }

    fn policy() -> Policy<VectorMemory> {
        Policy::new(VectorMemory::default(), VectorMemory::default())
    }

    #[test]
    fn usage_keys_order_by_window_then_global_first_then_caller() {
        let key = |start, caller| UsageKey {
            window_start_ns: start,
            caller,
        };
        let keys = [
            key(1, None),
            key(1, Some(Principal::anonymous())),
            key(1, Some(alice())),
            key(2, None),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0].to_bytes() < pair[1].to_bytes(), "{pair:?}");
            assert_eq!(UsageKey::from_bytes(pair[0].to_bytes()), pair[0]);
        }
    }

    #[test]
    fn a_per_caller_quota_refuses_until_its_window_resets() {
        let mut p = policy();
        p.set(InferencePolicy {
            window_seconds: 60,
            per_caller: Quota {
                max_calls: Some(2),
                max_instructions: None,
            },
            ..InferencePolicy::default()
        })
        .unwrap();
        let start = 1_000 * 60 * SECOND;
        for i in 0..2 {
            let admitted = p.admit(alice(), || false, start + i).unwrap();
            p.charge(admitted, start + i, 1, 10);
        }
        assert_eq!(
            p.admit(alice(), || false, start + 59 * SECOND),
            Err(Error::QuotaExceeded {
                quota: "per_caller.max_calls".into(),
                max: 2,
                used: 2,
                resets_at_ns: start + 60 * SECOND,
            })
        );
        // Another caller, a controller, and the next window are not refused.
        assert!(p.admit(Principal::anonymous(), || false, start).is_ok());
        assert_eq!(p.admit(alice(), || true, start), Ok(Admission(None)));
        assert!(p.admit(alice(), || false, start + 60 * SECOND).is_ok());
    }

    #[test]
    fn stale_windows_are_pruned_as_new_ones_are_charged() {
        let mut p = policy();
        p.set(InferencePolicy {
            window_seconds: 1,
            global: Quota {
                max_calls: Some(1_000),
                max_instructions: Some(u64::MAX),
            },
            per_caller: Quota {
                max_calls: Some(10),
                max_instructions: None,
            },
            ..InferencePolicy::default()
        })
        .unwrap();
        // 50 callers in window 0: 51 entries (the global one too).
        for i in 0..50u8 {
            let caller = Principal::from_slice(&[i; 29]);
            let admitted = p.admit(caller, || false, 0).unwrap();
            p.charge(admitted, 0, 1, 1);
        }
        assert_eq!(p.usage_entries(), 51);
        // One caller in each later window: the map shrinks back to the live window.
        for window in 1..40 {
            let admitted = p.admit(alice(), || false, window * SECOND).unwrap();
            p.charge(admitted, window * SECOND, 1, 1);
        }
        assert_eq!(p.usage_entries(), 2);
    }

    #[test]
    fn the_policy_survives_a_reopen_and_bad_policies_are_refused() {
        let (record, usage) = (VectorMemory::default(), VectorMemory::default());
        let mut p = Policy::new(record.clone(), usage.clone());
        let set = InferencePolicy {
            access: Access::AllowList(vec![alice()]),
            window_seconds: 10,
            ..InferencePolicy::default()
        };
        p.set(set.clone()).unwrap();
        for bad in [
            InferencePolicy {
                window_seconds: 0,
                ..set.clone()
            },
            InferencePolicy {
                window_seconds: MAX_POLICY_WINDOW_SECONDS + 1,
                ..set.clone()
            },
            InferencePolicy {
                access: Access::AllowList(vec![alice(); MAX_ALLOW_LIST as usize + 1]),
                ..set.clone()
            },
        ] {
            assert!(p.set(bad).is_err());
        }
        drop(p);
        let p = Policy::open(record, usage).unwrap();
        assert_eq!(p.get(), &set);
        assert!(matches!(
            p.admit(Principal::anonymous(), || false, 0),
            Err(Error::Unauthorized { .. })
        ));
        assert!(p.admit(alice(), || false, 0).is_ok());
    }
}
