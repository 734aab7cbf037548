//! Network middleboxes for the tests: a forward HTTP proxy that records what passes through it,
//! and a TLS-terminating relay in front of a plain HTTP server, with a throwaway CA.
//!
//! Both bind `127.0.0.1:0` before anything is spawned, so a test may connect at once; both stop
//! serving when dropped and never leave loopback.
#![allow(dead_code, reason = "each test uses only part of these helpers")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long a relayed connection may sit idle before the relay gives up on it.
const IDLE: Duration = Duration::from_secs(30);

/// One request a [`ForwardProxy`] received.
#[derive(Clone, Debug)]
pub struct ProxyRequest {
    /// `GET`, `HEAD`, `CONNECT`, ...
    pub method: String,
    /// The request target as sent: `http://host:port/path?query`, or `host:port` for `CONNECT`.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub proxy_auth: Option<String>,
    /// The status the proxy answered (the upstream's, or its own 502).
    pub status: u16,
}

/// A forward proxy on `127.0.0.1`: absolute-form requests (`GET http://host:port/... HTTP/1.1`)
/// are forwarded to the target one per connection (`Connection: close` both ways), `CONNECT`
/// opens a blind tunnel. Every request is recorded.
pub struct ForwardProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<ProxyRequest>>>,
    stop: Arc<AtomicBool>,
}

impl ForwardProxy {
    /// Bind, then start accepting on a thread.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let log = Arc::<Mutex<Vec<ProxyRequest>>>::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_log, thread_stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("test-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if thread_stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let log = Arc::clone(&thread_log);
                    std::thread::spawn(move || {
                        let _ = serve_proxy(conn, &log);
                    });
                }
            })
            .expect("spawn the proxy thread");
        Self { addr, log, stop }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The request line and headers of an HTTP/1.1 message, read up to the blank line.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<String>)>> {
    let mut first = String::new();
    if reader.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    Ok(Some((first.trim_end().to_owned(), headers)))
}

fn header_name(line: &str) -> String {
    line.split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn header_value<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    let line = headers.iter().find(|h| header_name(h) == name)?;
    Some(line.split_once(':')?.1.trim())
}

/// Hop-by-hop headers a proxy must not pass on.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "proxy-connection" | "keep-alive" | "proxy-authorization" | "te"
    )
}

fn serve_proxy(client: TcpStream, log: &Mutex<Vec<ProxyRequest>>) -> std::io::Result<()> {
    client.set_read_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some((line, headers)) = read_head(&mut reader)? else {
        return Ok(());
    };
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut record = ProxyRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        proxy_auth: header_value(&headers, "proxy-authorization").map(str::to_owned),
        status: 502,
    };
    let bad_gateway = |client: &mut TcpStream| {
        client.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    };
    if method == "CONNECT" {
        let Ok(upstream) = TcpStream::connect(target) else {
            log.lock().unwrap().push(record);
            return bad_gateway(&mut client);
        };
        record.status = 200;
        log.lock().unwrap().push(record);
        client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
        // Bytes the client sent early are already in the reader's buffer.
        let mut to_upstream = upstream.try_clone()?;
        to_upstream.write_all(reader.buffer())?;
        let consumed = reader.buffer().len();
        reader.consume(consumed);
        let pump = std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut to_upstream);
            let _ = to_upstream.shutdown(Shutdown::Write);
        });
        let mut from_upstream = upstream;
        from_upstream.set_read_timeout(Some(IDLE))?;
        let _ = std::io::copy(&mut from_upstream, &mut client);
        let _ = client.shutdown(Shutdown::Write);
        let _ = pump.join();
        return Ok(());
    }
    let Some(rest) = target.strip_prefix("http://") else {
        log.lock().unwrap().push(record);
        return bad_gateway(&mut client);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(mut upstream) = TcpStream::connect(authority) else {
        log.lock().unwrap().push(record);
        return bad_gateway(&mut client);
    };
    upstream.set_read_timeout(Some(IDLE))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for h in headers.iter().filter(|h| !hop_by_hop(&header_name(h))) {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    let body_len = header_value(&headers, "content-length").and_then(|v| v.parse().ok());
    if let Some(len) = body_len {
        std::io::copy(&mut (&mut reader).take(len), &mut upstream)?;
    }
    // Answer with the upstream's head, marked `Connection: close`, then its body until EOF.
    let mut up_reader = BufReader::new(upstream);
    let Some((status_line, resp_headers)) = read_head(&mut up_reader)? else {
        log.lock().unwrap().push(record);
        return bad_gateway(&mut client);
    };
    record.status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    log.lock().unwrap().push(record);
    let mut head = format!("{status_line}\r\n");
    for h in resp_headers.iter().filter(|h| !hop_by_hop(&header_name(h))) {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    client.write_all(head.as_bytes())?;
    let _ = std::io::copy(&mut up_reader, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}

/// A throwaway certificate authority and a server certificate it signed for `localhost` and
/// `127.0.0.1`.
pub struct TestCa {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

impl TestCa {
    pub fn generate() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hfdl test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_der: cert.der().clone(),
            server_key_der: key.serialize_der(),
        }
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server_der.clone(), self.ca_der.clone()], key)
            .expect("TLS server config")
    }
}

/// A TLS-terminating TCP relay on `127.0.0.1`: each connection is decrypted with the
/// [`TestCa`]'s server certificate and its bytes piped to `upstream` (a plain HTTP server).
pub struct TlsFront {
    addr: SocketAddr,
    handshakes: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsFront {
    /// Relay to `upstream`, given as `http://host:port` or `host:port`.
    pub fn start(ca: &TestCa, upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an upstream ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(ca.server_config()));
        let handshakes = Arc::new(AtomicU32::new(0));
        let failed = Arc::new(AtomicU32::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tls-front")
            .enable_all()
            .build()
            .expect("TLS front runtime");
        let (ok, bad) = (Arc::clone(&handshakes), Arc::clone(&failed));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, ok, bad) = (acceptor.clone(), Arc::clone(&ok), Arc::clone(&bad));
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            bad.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    ok.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        Self {
            addr,
            handshakes,
            failed,
            runtime: Some(runtime),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port())
    }

    /// Connections whose TLS handshake completed.
    pub fn handshakes(&self) -> u32 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Connections whose TLS handshake failed (e.g. the client rejected the certificate).
    pub fn failed_handshakes(&self) -> u32 {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Like [`TlsFront`], but a client that offers HTTP/2 (ALPN `h2`) is spoken to in HTTP/2, as
/// huggingface.co and hf-mirror.com do over TLS; each of its requests is forwarded to `upstream`
/// over HTTP/1.1 (GET and HEAD, redirects passed through). Other clients are relayed as by
/// [`TlsFront`]. Counts the connections of each protocol.
pub struct H2Front {
    addr: SocketAddr,
    h2: Arc<AtomicU32>,
    h1: Arc<AtomicU32>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl H2Front {
    pub fn start(ca: &TestCa, upstream: &str) -> Self {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let relay_to: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the h2 front");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = ca.server_config();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (h2, h1) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("h2-front")
            .enable_all()
            .build()
            .expect("h2 front runtime");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let (n2, n1) = (Arc::clone(&h2), Arc::clone(&h1));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, client, upstream) =
                    (acceptor.clone(), client.clone(), upstream.clone());
                let (n2, n1) = (Arc::clone(&n2), Arc::clone(&n1));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                        n1.fetch_add(1, Ordering::SeqCst);
                        let Ok(mut up) = tokio::net::TcpStream::connect(relay_to).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                        return;
                    }
                    n2.fetch_add(1, Ordering::SeqCst);
                    let service = hyper::service::service_fn(move |req| {
                        forward(client.clone(), upstream.clone(), req)
                    });
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Self {
            addr,
            h2,
            h1,
            runtime: Some(runtime),
        }
    }

    /// `https://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Connections spoken in HTTP/2 and in HTTP/1.1.
    pub fn connections(&self) -> (u32, u32) {
        (
            self.h2.load(Ordering::SeqCst),
            self.h1.load(Ordering::SeqCst),
        )
    }
}

impl Drop for H2Front {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One HTTP/2 request, forwarded to the plain HTTP upstream and answered in full.
async fn forward(
    client: reqwest::Client,
    upstream: String,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut out = client.request(req.method().clone(), format!("{upstream}{path}"));
    for (name, value) in req.headers() {
        out = out.header(name, value);
    }
    let mut reply = hyper::Response::builder();
    let body = match out.send().await {
        Ok(answer) => {
            reply = reply.status(answer.status());
            for (name, value) in answer.headers() {
                let hop = ["connection", "transfer-encoding", "keep-alive"];
                if !hop.contains(&name.as_str()) {
                    reply = reply.header(name, value);
                }
            }
            answer.bytes().await.unwrap_or_default()
        }
        Err(_) => {
            reply = reply.status(502);
            bytes::Bytes::new()
        }
    };
    Ok(reply.body(http_body_util::Full::new(body)).unwrap())
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
