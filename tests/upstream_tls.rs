//! HTTPS to providers: rustls with a private CA from `tls_ca_file`, through the real binary to
//! the mock serving TLS; and refusal of a certificate nobody vouches for.

mod common;

#[allow(dead_code)]
#[path = "../loadtest/tests/common/cert.rs"]
mod cert;

use common::*;

struct TlsMock {
    mock: Proc,
    cert_path: std::path::PathBuf,
}

fn tls_mock() -> TlsMock {
    let cert = cert::localhost();
    let dir = std::env::temp_dir().join(format!(
        "shardgate-tls-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert.cert_pem).unwrap();
    std::fs::write(&key_path, &cert.key_pem).unwrap();
    let mock = mock(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ]);
    TlsMock { mock, cert_path }
}

fn config(port: u16, ca: Option<&std::path::Path>) -> String {
    let ca_line = ca.map_or(String::new(), |p| {
        format!("tls_ca_file = \"{}\"\n", p.display())
    });
    format!(
        "[server]\nshards = 1\n\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\n\
         base_url = \"https://localhost:{port}/v1\"\nkeys = [\"sk-provider\"]\n{ca_line}"
    )
}

#[test]
fn https_provider_with_private_ca() {
    let m = tls_mock();
    let gw = gateway(&config(m.mock.addr.port(), Some(&m.cert_path)));
    let mut c = Client::connect(gw.addr);
    for _ in 0..5 {
        let r = c.post_json("/v1/chat/completions", CHAT);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("gpt-4o-mini"));
    }
    let r = c.post_json(
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-4o-mini","stream":true,"messages":[]}"#,
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("data: [DONE]"));
}

#[test]
fn untrusted_certificate_is_refused_with_502() {
    let m = tls_mock();
    // Only the built-in web PKI roots: the self-signed certificate must not be accepted.
    let gw = gateway(&config(m.mock.addr.port(), None));
    let r = one_shot(gw.addr, "POST", "/v1/chat/completions", CHAT);
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "upstream_connect_failed");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("TLS"),
        "{v}"
    );
}
