//! The client side of the sequence service: routes each key to the instance
//! that owns its section, learning owners from refusals.
//!
//! Sections are owned by instances under leases. A caller starts from a guess
//! (section number modulo the instance list); an instance that does not own a
//! section answers `wrong_owner` naming the owner in its structured details
//! (never in text to parse), and the router remembers it and retries there. An unreachable owner is forgotten, so the next attempt
//! goes to another instance, which claims the section once the lease is over.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tidings_core::error::ErrorInfo;
use tidings_core::{Error, ErrorCode, Result, Seq};
use tidings_proto::sequence::v1::{
    AbandonRequest, AllocateRequest, CheckRequest, CommitRequest, CommitStatus, HeadsRequest,
    SeqRef, SeqState,
};
use tidings_rpc::SequenceApi;
use tidings_telemetry::ServiceDialer;

use crate::section_of;

/// Attempts per call before giving up (owners learned or instances tried).
const ATTEMPTS: usize = 6;

/// The domain and reason of a `wrong_owner` refusal's [`ErrorInfo`].
const DOMAIN: &str = "tidings.sequence";
const WRONG_OWNER: &str = "WRONG_OWNER";

/// Builds the `wrong_owner` error an instance answers for a section it does
/// not hold. The section and its owner (`<instance>@<address>`) travel as
/// structured details; the message is for people only.
pub fn wrong_owner(section: u32, owner: &str) -> Error {
    Error::new(
        ErrorCode::WrongOwner,
        format!("section {section} is held by {owner}"),
    )
    .with_info(
        ErrorInfo::new(WRONG_OWNER, DOMAIN)
            .with("section", section.to_string())
            .with("owner", owner),
    )
}

/// The section and owner a `wrong_owner` refusal names, read from its
/// structured details.
fn refused_for_owner(e: &Error) -> Option<(u32, &str)> {
    let info = e.info().filter(|i| i.is(DOMAIN, WRONG_OWNER))?;
    let section = info.metadata.get("section")?.parse().ok()?;
    let owner = info.metadata.get("owner")?;
    Some((section, owner.as_str()))
}

/// What became of a seq given to `commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitOutcome {
    /// Committed, by this call or an earlier one.
    Committed,
    /// Abandoned or never allocated: the seq stays empty for good.
    #[default]
    Abandoned,
    /// Allocated under an earlier owner of the section; its fate is unknown.
    Unknown,
}

impl CommitOutcome {
    fn from_status(status: i32) -> Self {
        match CommitStatus::try_from(status) {
            Ok(CommitStatus::Committed) => CommitOutcome::Committed,
            Ok(CommitStatus::Unknown) => CommitOutcome::Unknown,
            _ => CommitOutcome::Abandoned,
        }
    }

    /// The wire form.
    pub fn to_status(self) -> CommitStatus {
        match self {
            CommitOutcome::Committed => CommitStatus::Committed,
            CommitOutcome::Abandoned => CommitStatus::Abandoned,
            CommitOutcome::Unknown => CommitStatus::Unknown,
        }
    }
}

/// Where a seq stands, as `check` tells without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeqStatus {
    /// Allocated, neither committed nor abandoned yet.
    Pending,
    Committed,
    #[default]
    Abandoned,
    /// Allocated under an earlier owner of the section; fate unknown.
    Unknown,
}

impl SeqStatus {
    /// `None` is a pending seq; otherwise what became of it.
    pub fn from_outcome(outcome: Option<CommitOutcome>) -> Self {
        match outcome {
            None => SeqStatus::Pending,
            Some(CommitOutcome::Committed) => SeqStatus::Committed,
            Some(CommitOutcome::Abandoned) => SeqStatus::Abandoned,
            Some(CommitOutcome::Unknown) => SeqStatus::Unknown,
        }
    }

    fn from_state(state: i32) -> Self {
        match SeqState::try_from(state) {
            Ok(SeqState::Pending) => SeqStatus::Pending,
            Ok(SeqState::Committed) => SeqStatus::Committed,
            Ok(SeqState::Unknown) => SeqStatus::Unknown,
            _ => SeqStatus::Abandoned,
        }
    }

    /// The wire form.
    pub fn to_state(self) -> SeqState {
        match self {
            SeqStatus::Pending => SeqState::Pending,
            SeqStatus::Committed => SeqState::Committed,
            SeqStatus::Abandoned => SeqState::Abandoned,
            SeqStatus::Unknown => SeqState::Unknown,
        }
    }
}

/// Routes sequence calls to section owners.
pub struct SequenceRouter {
    sections: u32,
    instances: Vec<String>,
    owners: Mutex<HashMap<u32, String>>,
    clients: Mutex<HashMap<String, SequenceApi>>,
    /// Deadline of each call to an instance.
    call_timeout: Duration,
    /// How instances are reached: TLS or not, and the service credential
    /// every call carries.
    dialer: ServiceDialer,
}

impl SequenceRouter {
    /// `instances`: gRPC addresses (`host:port`) of every sequence instance;
    /// `sections` must equal the instances' `sequence.sections`. A call that
    /// gets no answer within `call_timeout` fails as unavailable. Instances
    /// are called through `dialer` (a service token alone: plain text).
    pub fn new(
        instances: Vec<String>,
        sections: u32,
        call_timeout: Duration,
        dialer: impl Into<ServiceDialer>,
    ) -> Result<Self> {
        if instances.is_empty() {
            return Err(Error::invalid("at least one sequence instance is needed"));
        }
        Ok(SequenceRouter {
            sections,
            instances,
            owners: Mutex::default(),
            clients: Mutex::default(),
            call_timeout,
            dialer: dialer.into(),
        })
    }

    /// One seq per key, in request order (see `SequenceService.Allocate`).
    pub async fn allocate(&self, keys: &[String]) -> Result<Vec<Seq>> {
        self.routed(keys, |mut client, keys| async move {
            Ok(client
                .allocate(AllocateRequest { keys })
                .await?
                .into_inner()
                .seqs)
        })
        .await
    }

    /// The visible head of each key.
    pub async fn heads(&self, keys: &[String]) -> Result<Vec<Seq>> {
        self.routed(keys, |mut client, keys| async move {
            Ok(client
                .heads(HeadsRequest { keys })
                .await?
                .into_inner()
                .heads)
        })
        .await
    }

    /// Commits, telling for each seq what became of it.
    pub async fn commit(&self, refs: &[(String, Seq)]) -> Result<Vec<CommitOutcome>> {
        let (keys, payload) = seq_refs(refs);
        self.routed_with(&keys, &payload, |mut client, seqs| async move {
            Ok(client
                .commit(CommitRequest { seqs })
                .await?
                .into_inner()
                .statuses
                .into_iter()
                .map(CommitOutcome::from_status)
                .collect())
        })
        .await
    }

    /// Where each seq stands, changing nothing.
    pub async fn check(&self, refs: &[(String, Seq)]) -> Result<Vec<SeqStatus>> {
        let (keys, payload) = seq_refs(refs);
        self.routed_with(&keys, &payload, |mut client, seqs| async move {
            Ok(client
                .check(CheckRequest { seqs })
                .await?
                .into_inner()
                .states
                .into_iter()
                .map(SeqStatus::from_state)
                .collect())
        })
        .await
    }

    /// Reaches the instance at `addr` through `api` (in the all-in-one, its
    /// own allocator, called directly).
    pub fn connect_in_process(&self, addr: &str, api: SequenceApi) {
        self.clients
            .lock()
            .expect("clients lock")
            .insert(addr.to_string(), api);
    }

    /// Gives up seqs at once (best effort; the deadline abandons them anyway).
    pub async fn abandon(&self, refs: &[(String, Seq)]) -> Result<()> {
        let (keys, payload) = seq_refs(refs);
        self.routed_with(&keys, &payload, |mut client, seqs| async move {
            let n = seqs.len();
            client.abandon(AbandonRequest { seqs }).await?;
            Ok(vec![(); n])
        })
        .await
        .map(|_| ())
    }

    async fn routed<T, F, Fut>(&self, keys: &[String], call: F) -> Result<Vec<T>>
    where
        T: Clone + Default,
        F: Fn(SequenceApi, Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>>>,
    {
        self.routed_with(keys, keys, call).await
    }

    /// Splits `payload` (one item per key) by the owner of each key's section,
    /// calls each owner, and reassembles answers in request order.
    async fn routed_with<P, T, F, Fut>(
        &self,
        keys: &[String],
        payload: &[P],
        call: F,
    ) -> Result<Vec<T>>
    where
        P: Clone,
        T: Clone + Default,
        F: Fn(SequenceApi, Vec<P>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>>>,
    {
        let mut answers: Vec<Option<T>> = vec![None; keys.len()];
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, key) in keys.iter().enumerate() {
                if answers[i].is_none() {
                    let section = section_of(key, self.sections);
                    groups
                        .entry(self.owner_of(section, attempt))
                        .or_default()
                        .push(i);
                }
            }
            if groups.is_empty() {
                break;
            }
            for (owner, indexes) in groups {
                let items: Vec<P> = indexes.iter().map(|&i| payload[i].clone()).collect();
                match call(self.client(&owner)?, items).await {
                    Ok(values) if values.len() == indexes.len() => {
                        for (i, v) in indexes.into_iter().zip(values) {
                            answers[i] = Some(v);
                        }
                    }
                    Ok(_) => return Err(Error::internal("sequence answered a short batch")),
                    Err(e) if e.code == ErrorCode::WrongOwner => {
                        if let Some((section, owner)) = refused_for_owner(&e) {
                            // Owners are `<instance>@<address>`.
                            let address = owner.rsplit('@').next().unwrap_or(owner).to_string();
                            self.owners
                                .lock()
                                .expect("owners lock")
                                .insert(section, address);
                        }
                        last_error = Some(e);
                    }
                    Err(e) if e.code == ErrorCode::Unavailable => {
                        // Forget whoever we thought owned these sections.
                        {
                            let mut owners = self.owners.lock().expect("owners lock");
                            for &i in &indexes {
                                owners.remove(&section_of(&keys[i], self.sections));
                            }
                        }
                        last_error = Some(e);
                        tokio::time::sleep(Duration::from_millis(50 * (attempt as u64 + 1))).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if answers.iter().any(Option::is_none) {
            return Err(last_error
                .map(|e| Error::unavailable(format!("sequence: {}", e.message)))
                .unwrap_or_else(|| Error::unavailable("sequence: no instance answered")));
        }
        Ok(answers.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn owner_of(&self, section: u32, attempt: usize) -> String {
        if let Some(owner) = self.owners.lock().expect("owners lock").get(&section) {
            return owner.clone();
        }
        let n = self.instances.len();
        self.instances[(section as usize + attempt) % n].clone()
    }

    fn client(&self, addr: &str) -> Result<SequenceApi> {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(client) = clients.get(addr) {
            return Ok(client.clone());
        }
        let connect_timeout = Duration::from_secs(2).min(self.call_timeout);
        let channel = self
            .dialer
            .channel(addr, connect_timeout, self.call_timeout)
            .map_err(|e| Error::invalid(format!("sequence address {addr:?}: {e}")))?;
        let client = SequenceApi::grpc(channel);
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }
}

fn seq_refs(refs: &[(String, Seq)]) -> (Vec<String>, Vec<SeqRef>) {
    let keys = refs.iter().map(|(k, _)| k.clone()).collect();
    let payload = refs
        .iter()
        .map(|(key, seq)| SeqRef {
            key: key.clone(),
            seq: *seq,
        })
        .collect();
    (keys, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_owner_details_survive_the_grpc_hop() {
        let e = wrong_owner(12, "seq-1@10.0.0.7:7403");
        assert_eq!(e.code, ErrorCode::WrongOwner);
        let back = Error::from_status(&e.to_status());
        assert_eq!(refused_for_owner(&back), Some((12, "seq-1@10.0.0.7:7403")));
    }

    #[test]
    fn owner_is_never_read_from_the_message() {
        // A refusal without details (an older or foreign server) teaches the
        // router nothing, whatever its text says.
        let e = Error::new(
            ErrorCode::WrongOwner,
            "section 12 is held by seq-1@10.0.0.7:7403",
        );
        assert_eq!(refused_for_owner(&e), None);
        let other = Error::new(ErrorCode::WrongOwner, "x")
            .with_info(ErrorInfo::new(WRONG_OWNER, "elsewhere").with("section", "1"));
        assert_eq!(refused_for_owner(&other), None);
    }
}
