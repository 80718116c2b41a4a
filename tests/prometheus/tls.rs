//! Prometheus over HTTPS with a custom CA, and the binary talking TLS to the Kubernetes API.

use super::*;

/// An https Prometheus whose certificate is signed by a private CA: trusted with the CA bundle,
/// refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_custom_ca() {
    let (bin, _) = binaries();
    let openssl = find_binary("openssl", "openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new(&openssl).args(args).current_dir(d).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=hybridscale test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            d.join("server.crt").display(),
            d.join("server.key").display()
        ),
    )
    .expect("web config");
    let ca = std::fs::read(d.join("ca.crt")).expect("ca");
    let token = d.join("token");
    std::fs::write(&token, "not-checked-by-prometheus\n").expect("token");
    let prom = Prom::start(&bin, d, &d.join("tsdb"), &[], Some((&web, &ca))).await;
    assert!(prom.url.starts_with("https://"));

    let mut cfg = PrometheusConfig::new(&prom.url);
    cfg.credentials = Credentials::from_files(Some(&token), Some(&d.join("ca.crt"))).expect("credentials");
    let trusted = PrometheusClient::new(&cfg).expect("client with CA");
    let points = trusted.instant("vector(7)").await.expect("query over TLS");
    assert_eq!(points.iter().map(|p| p.value).collect::<Vec<_>>(), vec![7.0]);

    let untrusted = PrometheusClient::new(&PrometheusConfig::new(&prom.url)).expect("client");
    let err = untrusted.instant("vector(7)").await.expect_err("unknown CA must be refused");
    assert!(err.is_unreachable(), "{err:?}");

    binary_talks_tls_to_the_kubernetes_api(d, &prom.url).await;
}

/// The shipped binary starts and its Kubernetes client completes TLS handshakes with one crypto provider
/// (aws-lc-rs for kube and reqwest alike; two providers make rustls panic at the first connection). The
/// "API server" is the https Prometheus above: the operator's discovery requests reach it over TLS and
/// come back 404, which the operator logs and survives.
async fn binary_talks_tls_to_the_kubernetes_api(dir: &Path, https_url: &str) {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tls\n  cluster:\n    server: {https_url}\n    \
             certificate-authority: {}\ncontexts:\n- name: tls\n  context: {{cluster: tls, user: tls}}\n\
             current-context: tls\nusers:\n- name: tls\n  user: {{token: not-checked}}\n",
            dir.join("ca.crt").display()
        ),
    )
    .expect("kubeconfig");
    let log = dir.join("controller.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["controller", "--metrics-addr", "127.0.0.1:0", "--log-format", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start hybridscale controller");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("404 page not found") || child.try_wait().ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited.is_none(), "the controller exited early ({exited:?}):\n{text}");
    assert!(!text.contains("panicked") && !text.contains("CryptoProvider"), "TLS set-up failed:\n{text}");
    assert!(text.contains("404 page not found"), "no answer over TLS from {https_url} within 30 s:\n{text}");
}
