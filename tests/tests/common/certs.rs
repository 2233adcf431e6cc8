//! Test certificates made with rcgen: CAs, and certificates for 127.0.0.1
//! and localhost with both the `server auth` and `client auth` usages (as a
//! cert-manager Certificate for the services would have), written where a
//! config names them. Shared by the TLS tests; each uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

/// A test CA: what signs, and its certificate's PEM.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        issuer: Issuer::new(params, key),
        pem,
    }
}

/// A certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

/// A certificate for 127.0.0.1 and localhost signed by `ca`, usable by a
/// server and by a client.
pub fn leaf(ca: &Ca, serial: u64) -> Leaf {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.serial_number = Some(SerialNumber::from(serial));
    params
        .distinguished_name
        .push(DnType::CommonName, "tidings service");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A directory laid out as a mounted kubernetes.io/tls Secret: `tls.crt`,
/// `tls.key` and `ca.crt`.
pub struct TlsDir {
    dir: tempfile::TempDir,
}

impl TlsDir {
    pub fn new(ca: &Ca, leaf: &Leaf) -> Self {
        let tls = TlsDir {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(tls.ca(), &ca.pem).unwrap();
        tls.write(leaf);
        tls
    }

    /// Writes `leaf` over the certificate and key, as a renewal does.
    pub fn write(&self, leaf: &Leaf) {
        std::fs::write(self.cert(), &leaf.cert_pem).unwrap();
        std::fs::write(self.key(), &leaf.key_pem).unwrap();
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `path` as a config value.
pub fn text(path: &Path) -> String {
    path.display().to_string()
}
