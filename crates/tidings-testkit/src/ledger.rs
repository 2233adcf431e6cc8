//! A ledger campaign for fault tests: steady load while the caller breaks
//! things, then an audit of what every device and History hold.
//!
//! - **Senders** (`s0`, `s1`, …) each send one message at a time, alternating
//!   between a 1:1 conversation with the receiver and a small group of all of
//!   them. A message is retried with the same `client_msg_id` until it is
//!   acknowledged, reconnecting to whichever gateway is current, so every
//!   message a sender meant to send ends up acknowledged exactly once in the
//!   ledger.
//! - **The receiver** `rx` has one device online through every reconnect,
//!   following the device rules (pushes in order, pulls to fill gaps), and a
//!   second device that connects only at the end, from checkpoint 0.
//!
//! The audit counts, over every acknowledged message: lost (missing on a
//! device or in History), duplicated in the inbox (two inbox entries with one
//! message id) or in History, and out of order (a sender's messages in one
//! conversation not in the order it sent them). The caller marks when each
//! fault healed; recovery is the time from then to the first acknowledgement
//! and the first delivery after it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tidings_client::{ClientError, Device, dev_token};
use tidings_proto::common::v1::{InboxEntry, Message};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::dm;

/// The receiving user.
pub const RECEIVER: &str = "rx";

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sending users (`s0`…).
    pub senders: usize,
    /// Pause between one sender's acknowledged message and its next.
    pub pause: Duration,
    /// A request without an answer after this is retried.
    pub request_timeout: Duration,
    /// Campaign name, for the printout and the group id.
    pub name: String,
}

impl Plan {
    /// Four senders, about 80 messages a second in all.
    pub fn new(name: &str) -> Self {
        Plan {
            senders: 4,
            pause: Duration::from_millis(50),
            request_timeout: Duration::from_secs(3),
            name: name.to_string(),
        }
    }
}

/// One acknowledged message.
#[derive(Debug, Clone)]
struct Acked {
    conversation: String,
    client_msg_id: String,
    message_id: String,
}

#[derive(Default)]
struct Journal {
    acked: Vec<Acked>,
    ack_times: Vec<Instant>,
    delivery_times: Vec<Instant>,
    send_errors: HashMap<String, u64>,
    recoveries: Vec<(String, Option<Duration>)>,
}

/// Shared between the campaign's tasks.
struct Shared {
    journal: Mutex<Journal>,
    gateways: watch::Sender<Vec<String>>,
    stop: watch::Sender<bool>,
    /// Set once every sender has finished: from then on the ledger of
    /// acknowledgements is final.
    senders_done: watch::Sender<bool>,
}

impl Shared {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gateway for client number `index`.
    fn gateway(&self, index: usize) -> String {
        let urls = self.gateways.borrow();
        urls[index % urls.len()].clone()
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// A running campaign.
pub struct Campaign {
    plan: Plan,
    shared: Arc<Shared>,
    conversations: Vec<String>,
    senders: Vec<JoinHandle<()>>,
    receiver: JoinHandle<Device>,
}

impl Campaign {
    /// Creates the group and starts every sender and the receiver's online
    /// device against `gateways` (WebSocket URLs).
    pub async fn start(plan: Plan, gateways: Vec<String>) -> anyhow::Result<Campaign> {
        anyhow::ensure!(!gateways.is_empty(), "a campaign needs a gateway");
        let senders: Vec<String> = (0..plan.senders).map(|i| format!("s{i}")).collect();
        let (owner, _) = Device::connect(&gateways[0], &dev_token(&senders[0]), "setup", 0)
            .await
            .context("connect to create the group")?;
        let mut members: Vec<&str> = senders.iter().map(String::as_str).collect();
        members.push(RECEIVER);
        let group_id = format!("ledger-{}", plan.name);
        let group = owner
            .connection()
            .create_group(&group_id, "ledger", &members[1..])
            .await
            .context("create the ledger group")?;
        let group_conversation = group.conversation_id;
        drop(owner);

        let shared = Arc::new(Shared {
            journal: Mutex::new(Journal::default()),
            gateways: watch::Sender::new(gateways),
            stop: watch::Sender::new(false),
            senders_done: watch::Sender::new(false),
        });
        let (online, _) = connect_until_up(&shared, 0, RECEIVER, "online", 0, &plan).await;
        let receiver = tokio::spawn(receive(Arc::clone(&shared), online));
        let mut conversations = vec![group_conversation.clone()];
        let mut tasks = Vec::new();
        for (index, sender) in senders.iter().enumerate() {
            let direct = dm(sender, RECEIVER);
            conversations.push(direct.clone());
            let targets = [direct, group_conversation.clone()];
            tasks.push(tokio::spawn(send(
                Arc::clone(&shared),
                index,
                sender.clone(),
                targets,
                plan.clone(),
            )));
        }
        Ok(Campaign {
            plan,
            shared,
            conversations,
            senders: tasks,
            receiver,
        })
    }

    /// Points every client that (re)connects from now on at `gateways`.
    pub fn set_gateways(&self, gateways: Vec<String>) {
        self.shared.gateways.send_replace(gateways);
    }

    /// Acknowledgements so far.
    pub fn acked(&self) -> usize {
        self.shared.journal().acked.len()
    }

    /// Records that `fault` healed at `healed`, and waits (up to `patience`)
    /// for an acknowledgement and a delivery after it. Returns the recovery
    /// time, `None` if it did not recover in time.
    pub async fn recovered(
        &self,
        fault: &str,
        healed: Instant,
        patience: Duration,
    ) -> Option<Duration> {
        let deadline = healed + patience;
        let recovery = loop {
            let found = {
                let journal = self.shared.journal();
                let first_after = |times: &[Instant]| times.iter().find(|t| **t >= healed).copied();
                first_after(&journal.ack_times)
                    .zip(first_after(&journal.delivery_times))
                    .map(|(ack, delivery)| ack.max(delivery) - healed)
            };
            if found.is_some() || Instant::now() >= deadline {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.shared
            .journal()
            .recoveries
            .push((fault.to_string(), recovery));
        recovery
    }

    /// Stops the senders (each finishes the message it is on), waits until
    /// the online device has everything acknowledged, connects the late
    /// device, and audits.
    pub async fn finish(self) -> anyhow::Result<Report> {
        self.shared.stop.send_replace(true);
        for task in self.senders {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .context("a sender did not finish its last message within 60 s")??;
        }
        self.shared.senders_done.send_replace(true);
        let online = tokio::time::timeout(Duration::from_secs(60), self.receiver)
            .await
            .context("the online device did not catch up within 60 s")??;
        let (mut late, _) =
            connect_until_up(&self.shared, 0, RECEIVER, "late", 0, &self.plan).await;
        late.pull_all().await.context("late device pulls")?;

        let journal = std::mem::take(&mut *self.shared.journal());
        let mut report = Report {
            name: self.plan.name.clone(),
            acked: journal.acked.len(),
            send_errors: journal.send_errors.values().sum(),
            error_codes: journal.send_errors,
            recoveries: journal.recoveries,
            ..Report::default()
        };
        for (place, device) in [("online device", &online), ("late device", &late)] {
            let messages: Vec<&Message> = device
                .applied()
                .iter()
                .filter_map(|e| e.message.as_ref())
                .collect();
            report.audit_timeline(place, &journal.acked, &messages);
        }
        report.duplicated_inbox = duplicated_inbox(&late).await?;
        for conversation in &self.conversations {
            let history = history(&late, conversation).await?;
            let history: Vec<&Message> = history.iter().collect();
            let acked: Vec<Acked> = journal
                .acked
                .iter()
                .filter(|a| &a.conversation == conversation)
                .cloned()
                .collect();
            let counts = count_by_id(history.iter().copied());
            report.duplicated_history += counts.values().map(|c| c - 1).sum::<usize>();
            report.count_lost("history", &acked, &counts);
            let mut oldest_first = history;
            oldest_first.reverse();
            report.out_of_order += out_of_order(&oldest_first);
        }
        Ok(report)
    }
}

/// What a campaign found.
#[derive(Debug, Default)]
pub struct Report {
    pub name: String,
    pub acked: usize,
    /// Acknowledged messages missing from a device or from History (counted
    /// once per place they are missing from).
    pub lost: usize,
    pub duplicated_inbox: usize,
    pub duplicated_history: usize,
    pub out_of_order: usize,
    /// Failed attempts (each later retried until acknowledged).
    pub send_errors: u64,
    pub error_codes: HashMap<String, u64>,
    /// A few lost messages' `client_msg_id`s and where they were missing.
    pub lost_examples: Vec<String>,
    pub recoveries: Vec<(String, Option<Duration>)>,
}

impl Report {
    fn audit_timeline(&mut self, place: &str, acked: &[Acked], messages: &[&Message]) {
        let counts = count_by_id(messages.iter().copied());
        self.count_lost(place, acked, &counts);
        self.out_of_order += out_of_order(messages);
    }

    fn count_lost(&mut self, place: &str, acked: &[Acked], held: &HashMap<&str, usize>) {
        for missing in acked
            .iter()
            .filter(|a| !held.contains_key(a.message_id.as_str()))
        {
            self.lost += 1;
            if self.lost_examples.len() < 5 {
                self.lost_examples
                    .push(format!("{} ({place})", missing.client_msg_id));
            }
        }
    }

    /// Fails unless nothing was lost, duplicated or reordered, no attempt
    /// was answered `INTERNAL`, and every fault recovered within
    /// `max_recovery`.
    pub fn assert_clean(&self, max_recovery: Duration) {
        assert!(self.acked > 0, "{self}: nothing was acknowledged");
        assert_eq!(self.lost, 0, "{self}");
        assert_eq!(self.duplicated_inbox, 0, "{self}");
        assert_eq!(self.duplicated_history, 0, "{self}");
        assert_eq!(self.out_of_order, 0, "{self}");
        // INTERNAL means a bug; an outage must read UNAVAILABLE (or RETRY).
        assert!(
            !self.error_codes.contains_key("Internal"),
            "{self}: a fault was answered INTERNAL"
        );
        for (fault, recovery) in &self.recoveries {
            match recovery {
                Some(time) => assert!(
                    *time <= max_recovery,
                    "{self}: {fault} took {time:?} to recover (limit {max_recovery:?})"
                ),
                None => panic!("{self}: {fault} did not recover"),
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: acked {} / lost {} / duplicated (inbox) {} / duplicated (history) {} / \
             out of order {} / send errors {}",
            self.name,
            self.acked,
            self.lost,
            self.duplicated_inbox,
            self.duplicated_history,
            self.out_of_order,
            self.send_errors
        )?;
        if !self.lost_examples.is_empty() {
            write!(f, " lost: {:?}", self.lost_examples)?;
        }
        if !self.error_codes.is_empty() {
            let mut codes: Vec<_> = self.error_codes.iter().collect();
            codes.sort();
            write!(f, " {codes:?}")?;
        }
        write!(f, " / recovery")?;
        for (fault, recovery) in &self.recoveries {
            match recovery {
                Some(time) => write!(f, " {fault} {:.2} s", time.as_secs_f64())?,
                None => write!(f, " {fault} never")?,
            }
        }
        Ok(())
    }
}

/// Connects `user`'s `device_id` to gateway number `index`, retrying until it
/// answers (the caller is restarting it).
async fn connect_until_up(
    shared: &Shared,
    index: usize,
    user: &str,
    device_id: &str,
    checkpoint: u64,
    plan: &Plan,
) -> (Device, tidings_client::proto::Welcome) {
    loop {
        let url = shared.gateway(index);
        match Device::connect(&url, &dev_token(user), device_id, checkpoint).await {
            Ok((mut device, welcome)) => {
                device
                    .connection_mut()
                    .set_request_timeout(plan.request_timeout);
                return (device, welcome);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Reconnects an existing device (keeping its checkpoint) until it is back.
async fn reconnect_until_up(shared: &Shared, index: usize, device: &mut Device) {
    loop {
        let url = shared.gateway(index);
        if device.reconnect_to(&url).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One sender: message `n` goes to `targets[n % 2]`, retried until acked.
async fn send(shared: Arc<Shared>, index: usize, user: String, targets: [String; 2], plan: Plan) {
    let (mut device, _) = connect_until_up(&shared, index, &user, "d", 0, &plan).await;
    let mut n: u64 = 0;
    while !shared.stopping() {
        let conversation = &targets[(n % 2) as usize];
        let client_msg_id = format!("{user}-{n}");
        loop {
            match device
                .send(conversation, &client_msg_id, "text", client_msg_id.clone())
                .await
            {
                Ok(ack) => {
                    let mut journal = shared.journal();
                    journal.ack_times.push(Instant::now());
                    journal.acked.push(Acked {
                        conversation: conversation.clone(),
                        client_msg_id: client_msg_id.clone(),
                        message_id: ack.message_id,
                    });
                    break;
                }
                Err(error) => {
                    *shared
                        .journal()
                        .send_errors
                        .entry(code(&error))
                        .or_default() += 1;
                    if device.connection().is_closed() {
                        reconnect_until_up(&shared, index, &mut device).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        n += 1;
        tokio::time::sleep(plan.pause).await;
    }
}

/// The receiver's online device: follows pushes, reconnects whenever its
/// connection drops, and once the senders stop, returns when it holds every
/// acknowledged message.
async fn receive(shared: Arc<Shared>, mut device: Device) -> Device {
    if let Ok(outcome) = device.pull_all().await {
        record_deliveries(&shared, &outcome.applied);
    }
    loop {
        if *shared.senders_done.borrow() && holds_everything(&shared, &device) {
            return device;
        }
        match device.next_push(Duration::from_millis(200)).await {
            Ok(applied) => record_deliveries(&shared, &applied),
            Err(ClientError::Timeout { .. }) => {}
            Err(_) => {
                reconnect_until_up(&shared, 0, &mut device).await;
                if let Ok(outcome) = device.pull_all().await {
                    record_deliveries(&shared, &outcome.applied);
                }
            }
        }
    }
}

fn record_deliveries(shared: &Shared, applied: &[InboxEntry]) {
    if applied.is_empty() {
        return;
    }
    let now = Instant::now();
    shared
        .journal()
        .delivery_times
        .extend(applied.iter().map(|_| now));
}

fn holds_everything(shared: &Shared, device: &Device) -> bool {
    let held: std::collections::HashSet<&str> = device
        .applied()
        .iter()
        .filter_map(|e| e.message.as_ref())
        .map(|m| m.message_id.as_str())
        .collect();
    shared
        .journal()
        .acked
        .iter()
        .all(|a| held.contains(a.message_id.as_str()))
}

fn code(error: &ClientError) -> String {
    match error {
        ClientError::Server { code, .. } => format!("{code:?}"),
        ClientError::Timeout { .. } => "timeout".into(),
        _ => "connection".into(),
    }
}

fn count_by_id<'m>(messages: impl Iterator<Item = &'m Message>) -> HashMap<&'m str, usize> {
    let mut counts = HashMap::new();
    for message in messages {
        *counts.entry(message.message_id.as_str()).or_default() += 1;
    }
    counts
}

/// Messages, oldest first, whose sender sent them in another order: for each
/// sender and conversation the number in `client_msg_id` must increase.
fn out_of_order(messages: &[&Message]) -> usize {
    let mut last: HashMap<(&str, &str), u64> = HashMap::new();
    let mut wrong = 0;
    for message in messages {
        let Some(number) = message
            .client_msg_id
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
        else {
            continue;
        };
        let key = (message.sender_id.as_str(), message.conversation_id.as_str());
        if last.get(&key).is_some_and(|previous| number <= *previous) {
            wrong += 1;
        }
        last.insert(key, number);
    }
    wrong
}

/// Inbox entries beyond the first carrying one message id, from a raw pull
/// of the whole inbox (the device rules would hide them).
async fn duplicated_inbox(device: &Device) -> anyhow::Result<usize> {
    let mut after = 0;
    let mut ids: HashMap<String, usize> = HashMap::new();
    loop {
        let page = device.connection().pull(after, 0).await?;
        for entry in &page.entries {
            if let Some(message) = &entry.message {
                *ids.entry(message.message_id.clone()).or_default() += 1;
            }
        }
        match page.entries.last() {
            Some(last) if page.has_more => after = last.seq,
            _ => break,
        }
    }
    Ok(ids.values().map(|c| c - 1).sum())
}

/// A conversation's whole History, newest first.
async fn history(device: &Device, conversation: &str) -> anyhow::Result<Vec<Message>> {
    let mut before = 0;
    let mut messages = Vec::new();
    loop {
        let page = device.history(conversation, before, 200).await?;
        let last = page.messages.last().map(|m| m.conv_seq);
        messages.extend(page.messages);
        match last {
            Some(seq) if page.has_more => before = seq,
            _ => break,
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sender: &str, conversation: &str, n: u64, id: &str) -> Message {
        Message {
            message_id: id.into(),
            conversation_id: conversation.into(),
            sender_id: sender.into(),
            client_msg_id: format!("{sender}-{n}"),
            ..Message::default()
        }
    }

    #[test]
    fn out_of_order_counts_a_senders_step_back_within_a_conversation() {
        let a = message("s0", "c", 1, "a");
        let b = message("s0", "c", 2, "b");
        let other = message("s1", "c", 0, "x");
        let elsewhere = message("s0", "d", 0, "y");
        assert_eq!(out_of_order(&[&a, &other, &b, &elsewhere]), 0);
        assert_eq!(out_of_order(&[&b, &a]), 1);
        assert_eq!(out_of_order(&[&a, &a]), 1, "a repeat is not progress");
    }

    #[test]
    fn the_audit_counts_what_is_missing_and_what_is_repeated() {
        let acked = vec![
            Acked {
                conversation: "c".into(),
                client_msg_id: "s0-0".into(),
                message_id: "a".into(),
            },
            Acked {
                conversation: "c".into(),
                client_msg_id: "s0-1".into(),
                message_id: "b".into(),
            },
        ];
        let a = message("s0", "c", 0, "a");
        let mut report = Report::default();
        report.audit_timeline("device", &acked, &[&a, &a]);
        assert_eq!(report.lost, 1);
        assert_eq!(report.lost_examples, vec!["s0-1 (device)".to_string()]);
        assert_eq!(report.out_of_order, 1);
        assert_eq!(count_by_id([&a, &a].into_iter())["a"], 2);
    }

    #[test]
    #[should_panic(expected = "did not recover")]
    fn a_fault_that_never_recovered_fails_the_run() {
        let report = Report {
            acked: 1,
            recoveries: vec![("kill".into(), None)],
            ..Report::default()
        };
        report.assert_clean(Duration::from_secs(10));
    }
}
