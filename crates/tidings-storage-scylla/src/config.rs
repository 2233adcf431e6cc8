//! `[scylla]`: where the cluster is and how to talk to it.

use std::time::Duration;

use scylla::statement::{Consistency, SerialConsistency};
use serde::Deserialize;

/// Connection and layout settings of the ScyllaDB backend (the `[scylla]`
/// section of a service's config). Every key has a default; see
/// [`ScyllaConfig::validate`] for the accepted ranges.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScyllaConfig {
    /// `host:port` of the nodes to bootstrap from; the driver discovers the rest.
    pub contact_points: Vec<String>,
    /// Keyspace holding every table.
    pub keyspace: String,
    /// Replication of the keyspace as a CQL map literal, used by `migrate`
    /// when it creates the keyspace (it never alters an existing one), e.g.
    /// `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`.
    pub replication: String,
    /// The datacenter this service runs in: requests go to its nodes only.
    /// Unset: every node is used (single-datacenter clusters).
    pub local_dc: Option<String>,
    /// Credentials for password authentication; both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Consistency of every read and write, e.g. `LOCAL_QUORUM`, `QUORUM`.
    pub consistency: String,
    /// Serial consistency of the lightweight transactions (`seq_sections`
    /// and `groups`): `LOCAL_SERIAL` or `SERIAL`.
    pub serial_consistency: String,
    /// Rows fetched per page by range reads.
    pub page_size: u32,
    /// A store timeline partition holds `2^message_bucket_bits` seqs
    /// (`bucket = conv_seq >> message_bucket_bits`). Fixed for the life of a
    /// keyspace: `migrate` records it and `connect` refuses another value.
    pub message_bucket_bits: u8,
    /// A sync timeline partition holds `2^inbox_bucket_bits` seqs; fixed like
    /// `message_bucket_bits`.
    pub inbox_bucket_bits: u8,
    /// Client-side deadline of one request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest expected difference between the clocks of the services and of
    /// the database nodes, in milliseconds. Inbox expiry is reported this much
    /// (plus one second for whole-second TTLs) before it can happen.
    pub clock_skew_ms: u64,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        ScyllaConfig {
            contact_points: vec!["127.0.0.1:9042".to_string()],
            keyspace: "tidings".to_string(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_string(),
            local_dc: None,
            username: None,
            password: None,
            consistency: "LOCAL_QUORUM".to_string(),
            serial_consistency: "LOCAL_SERIAL".to_string(),
            page_size: 500,
            message_bucket_bits: 16,
            inbox_bucket_bits: 16,
            request_timeout_ms: 10_000,
            clock_skew_ms: 1_000,
        }
    }
}

/// Bucket widths outside this range make partitions either a handful of
/// rows or unbounded; 0 would also overflow the bucket column.
const BUCKET_BITS: std::ops::RangeInclusive<u8> = 4..=32;

/// Page sizes the driver and the servers accept without complaint.
const PAGE_SIZE: std::ops::RangeInclusive<u32> = 1..=10_000;

impl ScyllaConfig {
    /// Checks every key, naming the first bad one as `scylla.<key>`.
    pub fn validate(&self) -> Result<(), String> {
        if self.contact_points.is_empty() {
            return Err("scylla.contact_points: at least one host:port is needed".to_string());
        }
        for point in &self.contact_points {
            let valid = point
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(format!("scylla.contact_points: {point:?} is not host:port"));
            }
        }
        if !is_cql_identifier(&self.keyspace) {
            return Err(format!(
                "scylla.keyspace: {:?} must be 1-48 letters, digits or '_', starting with a letter",
                self.keyspace
            ));
        }
        validate_replication(&self.replication)?;
        if self.local_dc.as_deref().is_some_and(str::is_empty) {
            return Err("scylla.local_dc: must not be empty when set".to_string());
        }
        match (&self.username, &self.password) {
            (Some(_), None) => return Err("scylla.password: needed with scylla.username".into()),
            (None, Some(_)) => return Err("scylla.username: needed with scylla.password".into()),
            _ => {}
        }
        parse_consistency(&self.consistency).map_err(|e| format!("scylla.consistency: {e}"))?;
        parse_serial_consistency(&self.serial_consistency)
            .map_err(|e| format!("scylla.serial_consistency: {e}"))?;
        if !PAGE_SIZE.contains(&self.page_size) {
            return Err(format!(
                "scylla.page_size: {} is outside {}..={}",
                self.page_size,
                PAGE_SIZE.start(),
                PAGE_SIZE.end()
            ));
        }
        for (key, bits) in [
            ("message_bucket_bits", self.message_bucket_bits),
            ("inbox_bucket_bits", self.inbox_bucket_bits),
        ] {
            if !BUCKET_BITS.contains(&bits) {
                return Err(format!(
                    "scylla.{key}: {bits} is outside {}..={}",
                    BUCKET_BITS.start(),
                    BUCKET_BITS.end()
                ));
            }
        }
        if self.request_timeout_ms == 0 {
            return Err("scylla.request_timeout_ms: must be positive".to_string());
        }
        if self.clock_skew_ms > 3_600_000 {
            return Err("scylla.clock_skew_ms: more than an hour is not a clock skew".to_string());
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The page size as the driver takes it (validated to fit).
    pub(crate) fn page_size_i32(&self) -> i32 {
        i32::try_from(self.page_size).unwrap_or(i32::MAX)
    }
}

/// An unquoted CQL identifier that Cassandra and ScyllaDB accept as a
/// keyspace name.
fn is_cql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 48
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The replication map goes verbatim into `CREATE KEYSPACE`: make sure it is
/// one map literal and nothing more.
fn validate_replication(replication: &str) -> Result<(), String> {
    let trimmed = replication.trim();
    let is_map = trimmed.starts_with('{') && trimmed.ends_with('}');
    let inner = &trimmed[1.min(trimmed.len())..trimmed.len().saturating_sub(1)];
    if !is_map || inner.contains(['{', '}', ';']) || !trimmed.contains("'class'") {
        return Err(format!(
            "scylla.replication: {replication:?} must be a CQL map with a 'class', \
             e.g. {{'class': 'NetworkTopologyStrategy', 'dc1': 3}}"
        ));
    }
    Ok(())
}

pub(crate) fn parse_consistency(name: &str) -> Result<Consistency, String> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        other => {
            return Err(format!(
                "{other:?} is not one of ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, \
                 EACH_QUORUM, LOCAL_ONE"
            ));
        }
    })
}

pub(crate) fn parse_serial_consistency(name: &str) -> Result<SerialConsistency, String> {
    match name.to_ascii_uppercase().as_str() {
        "SERIAL" => Ok(SerialConsistency::Serial),
        "LOCAL_SERIAL" => Ok(SerialConsistency::LocalSerial),
        other => Err(format!("{other:?} is not SERIAL or LOCAL_SERIAL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(change: impl FnOnce(&mut ScyllaConfig)) -> String {
        let mut config = ScyllaConfig::default();
        change(&mut config);
        config.validate().expect_err("config should be refused")
    }

    #[test]
    fn defaults_are_valid() {
        ScyllaConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        type Change = fn(&mut ScyllaConfig);
        let cases: [(&str, Change); 10] = [
            ("scylla.contact_points", |c| c.contact_points.clear()),
            ("scylla.contact_points", |c| {
                c.contact_points = vec!["nohost".into()]
            }),
            ("scylla.keyspace", |c| c.keyspace = "bad-name".into()),
            ("scylla.replication", |c| {
                c.replication = "{'class': 'x'}; DROP".into()
            }),
            ("scylla.replication", |c| {
                c.replication = "{'replication_factor': 1}".into()
            }),
            ("scylla.password", |c| c.username = Some("u".into())),
            ("scylla.consistency", |c| c.consistency = "MOST".into()),
            ("scylla.serial_consistency", |c| {
                c.serial_consistency = "QUORUM".into()
            }),
            ("scylla.page_size", |c| c.page_size = 0),
            ("scylla.inbox_bucket_bits", |c| c.inbox_bucket_bits = 63),
        ];
        for (key, change) in cases {
            let error = invalid(change);
            assert!(error.starts_with(key), "{error:?} should name {key}");
        }
    }

    #[test]
    fn structured_replication_maps_are_accepted() {
        let config = ScyllaConfig {
            replication: "{'class': 'NetworkTopologyStrategy', 'eu': 3, 'us': 3}".into(),
            consistency: "quorum".into(),
            ..ScyllaConfig::default()
        };
        config.validate().unwrap();
    }

    #[test]
    fn reads_a_toml_section_and_refuses_unknown_keys() {
        #[derive(Debug, Deserialize)]
        struct File {
            scylla: ScyllaConfig,
        }
        let parse = |toml: &str| {
            ::config::Config::builder()
                .add_source(::config::File::from_str(toml, ::config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<File>())
        };
        let file = parse("[scylla]\nkeyspace = \"chat\"\nlocal_dc = \"eu-west\"\n").unwrap();
        let expected = ScyllaConfig {
            keyspace: "chat".into(),
            local_dc: Some("eu-west".into()),
            ..ScyllaConfig::default()
        };
        assert_eq!(file.scylla, expected);
        let error = parse("[scylla]\nkey_space = \"chat\"\n").unwrap_err();
        assert!(error.to_string().contains("key_space"), "{error}");
    }
}
