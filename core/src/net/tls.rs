//! TLS between a phone and a receiver: both present self-signed certificates and each pins
//! the other's fingerprint. Certificate chains, names and dates mean nothing here; what
//! matters is that the peer holds the private key of the certificate it was paired with,
//! which the TLS handshake's signature proves.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::error::LanError;
use super::identity::{Fingerprint, Identity};

/// The protocols both sides offer (ALPN): HTTP/1.1 only; HTTP/2's flow control slows bulk
/// uploads.
pub const ALPN: &[u8] = b"http/1.1";

/// The name the client asks for (receivers answer to any; the pin decides).
pub(crate) const SERVER_NAME: &str = "chatvault";

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Handshake signatures checked with the provider's algorithms: what makes a pinned
/// certificate proof that the peer holds its key. Both verifiers use it.
#[derive(Debug)]
struct Signatures(Arc<CryptoProvider>);

impl Signatures {
    fn new() -> Self {
        Signatures(provider())
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The handshake-signature methods that rustls's `ServerCertVerifier` and
/// `ClientCertVerifier` both require, answered by the verifier's `signatures` field. The two
/// traits are distinct and have no shared supertrait, so a macro is the one way to write
/// these methods once.
macro_rules! signature_methods {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls12(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls13(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.signatures.schemes()
        }
    };
}

/// What the phone accepts from a receiver.
#[derive(Debug)]
pub(crate) enum Expect {
    /// Exactly this certificate.
    Pinned(Fingerprint),
    /// Any certificate, remembered (pairing by code: SPAKE2 then proves both sides saw the
    /// same fingerprints, so an interceptor is caught before anything is trusted).
    Record(Mutex<Option<Fingerprint>>),
}

/// The phone's verifier of the receiver's certificate.
#[derive(Debug)]
pub(crate) struct ReceiverVerifier {
    expect: Expect,
    signatures: Signatures,
}

impl ReceiverVerifier {
    pub fn pinned(fingerprint: Fingerprint) -> Arc<Self> {
        Arc::new(ReceiverVerifier {
            expect: Expect::Pinned(fingerprint),
            signatures: Signatures::new(),
        })
    }

    pub fn recording() -> Arc<Self> {
        Arc::new(ReceiverVerifier {
            expect: Expect::Record(Mutex::new(None)),
            signatures: Signatures::new(),
        })
    }

    /// The fingerprint a recording verifier saw.
    pub fn seen(&self) -> Option<Fingerprint> {
        match &self.expect {
            Expect::Pinned(f) => Some(*f),
            Expect::Record(seen) => *seen.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// The error text a pin mismatch carries through rustls, recognised by [`pin_mismatch`].
const PIN_MISMATCH: &str = "chatvault: receiver identity mismatch";

impl ServerCertVerifier for ReceiverVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of_certificate(end_entity);
        match &self.expect {
            Expect::Pinned(want) if *want == got => Ok(ServerCertVerified::assertion()),
            Expect::Pinned(_) => Err(rustls::Error::General(format!(
                "{PIN_MISMATCH} {}",
                got.to_hex()
            ))),
            Expect::Record(seen) => {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    signature_methods!();
}

/// If `text` (an error's message) reports a pin mismatch, the fingerprint presented.
pub(crate) fn pin_mismatch(text: &str) -> Option<String> {
    let at = text.find(PIN_MISMATCH)? + PIN_MISMATCH.len();
    Some(text[at..].trim().chars().take(64).collect())
}

/// The receiver's verifier of phones: a certificate is required and its signature checked;
/// whether it is registered is decided per request from its fingerprint (an unregistered
/// certificate reaches only pairing).
#[derive(Debug)]
pub struct PhoneVerifier {
    signatures: Signatures,
}

impl PhoneVerifier {
    /// A verifier requiring a client certificate.
    pub fn new() -> Arc<Self> {
        Arc::new(PhoneVerifier {
            signatures: Signatures::new(),
        })
    }
}

impl ClientCertVerifier for PhoneVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    signature_methods!();
}

/// The phone's TLS settings: its identity as client certificate, the receiver checked by
/// `verifier`.
pub(crate) fn client_config(
    identity: &Identity,
    verifier: Arc<ReceiverVerifier>,
) -> Result<Arc<rustls::ClientConfig>, LanError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(LanError::identity)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(
            vec![CertificateDer::from(identity.certificate_der().to_vec())],
            private_key(identity),
        )
        .map_err(LanError::identity)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The receiver's TLS settings.
#[cfg(feature = "receiver")]
pub(crate) fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, LanError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(LanError::identity)?
        .with_client_cert_verifier(PhoneVerifier::new())
        .with_single_cert(
            vec![CertificateDer::from(identity.certificate_der().to_vec())],
            private_key(identity),
        )
        .map_err(LanError::identity)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// A TLS connection to a receiver, its certificate pinned: for tools and tests that speak
/// the protocol (docs/PROTOCOL.md) by hand.
pub struct ReceiverStream(rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>);

impl ReceiverStream {
    /// Completes a handshake over `tcp` as `identity`, accepting only the receiver whose
    /// fingerprint is `receiver`.
    pub fn connect(
        identity: &Identity,
        receiver: Fingerprint,
        mut tcp: std::net::TcpStream,
    ) -> Result<Self, LanError> {
        let config = client_config(identity, ReceiverVerifier::pinned(receiver))?;
        let name = ServerName::try_from(SERVER_NAME)
            .map_err(|e| LanError::Protocol(e.to_string()))?
            .to_owned();
        let mut conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| LanError::Protocol(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| LanError::Protocol(format!("TLS handshake: {e}")))?;
        }
        Ok(ReceiverStream(rustls::StreamOwned::new(conn, tcp)))
    }
}

impl std::io::Read for ReceiverStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for ReceiverStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn private_key(identity: &Identity) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der().to_vec()))
}

/// The HTTP client's TLS layer for receivers: ureq's TCP transport wrapped in our rustls
/// client (ureq's own rustls layer has no pinned verifier).
pub(crate) mod connector {
    use std::fmt;
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, StreamOwned};
    use ureq::unversioned::transport::{
        Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
        TransportAdapter,
    };

    /// Wraps each new connection in TLS with `config`.
    pub struct PinnedTls {
        pub config: Arc<rustls::ClientConfig>,
    }

    impl fmt::Debug for PinnedTls {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("PinnedTls")
        }
    }

    impl<In: Transport> Connector<In> for PinnedTls {
        type Out = Either<In, TlsTransport>;

        fn connect(
            &self,
            details: &ConnectionDetails,
            chained: Option<In>,
        ) -> Result<Option<Self::Out>, ureq::Error> {
            let Some(transport) = chained else {
                return Ok(None);
            };
            if !details.needs_tls() || transport.is_tls() {
                return Ok(Some(Either::A(transport)));
            }
            let name = ServerName::try_from(super::SERVER_NAME)
                .map_err(|_| ureq::Error::Tls("server name"))?
                .to_owned();
            let mut conn = ClientConnection::new(self.config.clone(), name)?;
            let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
            sock.set_timeout(details.timeout);
            conn.complete_io(&mut sock)?;
            Ok(Some(Either::B(TlsTransport {
                buffers: LazyBuffers::new(
                    details.config.input_buffer_size(),
                    details.config.output_buffer_size(),
                ),
                stream: StreamOwned { conn, sock },
            })))
        }
    }

    /// One TLS connection to a receiver.
    pub struct TlsTransport {
        buffers: LazyBuffers,
        stream: StreamOwned<ClientConnection, TransportAdapter>,
    }

    impl fmt::Debug for TlsTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("TlsTransport")
        }
    }

    impl Transport for TlsTransport {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(
            &mut self,
            amount: usize,
            timeout: NextTimeout,
        ) -> Result<(), ureq::Error> {
            self.stream.get_mut().set_timeout(timeout);
            let output = &self.buffers.output()[..amount];
            self.stream.write_all(output)?;
            Ok(())
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.stream.get_mut().set_timeout(timeout);
            let input = self.buffers.input_append_buf();
            let amount = self.stream.read(input)?;
            self.buffers.input_appended(amount);
            Ok(amount > 0)
        }

        fn is_open(&mut self) -> bool {
            self.stream.get_mut().get_mut().is_open()
        }

        fn is_tls(&self) -> bool {
            true
        }
    }
}
